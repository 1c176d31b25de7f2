"""The benchmark: the real server (run.py, waitress) on a database, pinned to one CPU, driven
from the other CPU by logged-in users of many clinics.

    .venv/bin/python bench/run.py --database /tmp/phase3-1m.db --database /tmp/phase3.db

on databases made by bench/generate.py (`.venv/bin/python bench/generate.py /tmp/phase3.db
--clinics 100 --months 60`). For each database, in one server run: log every user in (untimed,
one at a time), warm up, then

1. `bare`: GET /healthz (plain text through Flask and waitress, no session) by all clients at
   once, flat out: the most this server can answer, the yardstick for every page;
2. each page alone, flat out (the day schedule, the patient search, a chart, saving a record,
   booking a slot): its throughput, as a ratio to bare, and the server's CPU per request;
3. `mix`: the pages in a clinic's-day mix, every user pacing its requests so that together they
   offer `--load` times what the server can do for that mix (0.5: busy, not saturated), for
   the latency staff would see.

It prints a Markdown table and writes bench/results/<timestamp>.{json,md}. See bench/README.md.
"""
import argparse
import json
import multiprocessing
import os
import queue
import random
import sys
import threading
import time
from array import array
from collections import Counter
from datetime import datetime, timedelta
from urllib.parse import quote

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import postgres
from common import (
    DEFAULT_PASSWORD,
    RESULTS,
    Connection,
    HTTPError,
    LoginFailed,
    Server,
    SlotCursor,
    core_times,
    database_facts,
    discover,
    free_port,
    log_counts,
    log_in,
    machine_facts,
    machine_times,
    percentile,
    today,
)
from nginx import Front, cpu_of

PAGES = {  # name -> what the table calls it
    "schedule": "day schedule `GET /schedule?date=`",
    "search": "patient search `GET /patients?q=`",
    "chart": "patient chart `GET /patients/<id>/records`",
    "record": "save record `POST /patients/<id>/records`",
    "book": "book slot `POST /appointments`",
}
BARE = "bare `GET /healthz`"
DEFAULT_MIX = "schedule=35,search=25,chart=20,record=10,book=10"
BUSIEST = ("schedule", "search")  # the targets: >= 20% of bare; other pages >= 10%
SYMPTOMS = ["右肩の痛み、首のこり。デスクワークで悪化。", "腰部の痛み。前屈で増悪、朝に強い。",
            "左膝の違和感。階段の下りで痛む。", "頭痛と肩こり。眼精疲労あり。"]
DIAGNOSES = ["右僧帽筋の過緊張", "腰部筋筋膜性疼痛", "膝関節周囲炎の疑い", "緊張型頭痛"]
TREATMENTS = ["肩甲帯の手技療法 20分、温罨法", "鍼治療（置鍼 15分）、腰部ストレッチ",
              "膝周囲の手技療法、テーピング", "頸部・肩部の手技療法 30分"]
MARKS = ["back-neck", "back-shoulder-right", "back-lower-back", "front-knee-left"]


# --- one simulated user -----------------------------------------------------------------

class User:
    """A logged-in member of staff of one clinic, on one keep-alive connection."""

    def __init__(self, clinic, number_in_clinic, host, port, seed, run_tag):
        self.clinic, self.run_tag = clinic, run_tag
        self.rng = random.Random(seed)
        self.connection = Connection(host, port)
        self.bare = Connection(host, port)  # /healthz without cookies, like a load balancer
        therapists = clinic.therapists
        self.own_therapist = therapists[number_in_clinic % len(therapists)]
        first_day = clinic.first_free_day + timedelta(days=120 * number_in_clinic)
        self.slots = SlotCursor(clinic, self.own_therapist, first_day)
        self.csrf = None
        self.day = today()

    def log_in(self, password):
        self.csrf = log_in(self.connection, self.clinic.code, self.clinic.username, password)

    def _patient(self):
        return self.rng.choice(self.clinic.patients)[0]

    def _post(self, path, form):
        return self.connection.request("POST", path, form=form, headers=(
            ("X-CSRFToken", self.csrf), ("HX-Request", "true")))

    def do(self, page):
        """One request of that page: (outcome, status, note); outcome ok / error / conflict."""
        rng = self.rng
        if page == "bare":
            answer = self.bare.request("GET", "/healthz", cookies=False)
            ok = answer.status == 200 and answer.body == b"ok"
            return ("ok" if ok else "error"), answer.status, answer.body[:200]
        if page == "schedule":
            day = self.day if rng.random() < 0.6 else self.day + timedelta(days=rng.randint(-14, 14))
            answer = self.connection.request("GET", f"/schedule?date={day.isoformat()}")
        elif page == "search":
            answer = self.connection.request(
                "GET", "/patients?q=" + quote(rng.choice(self.clinic.searches)))
        elif page == "chart":
            answer = self.connection.request("GET", f"/patients/{self._patient()}/records")
        elif page == "record":
            form = {"therapist_id": str(rng.choice(self.clinic.therapists)),
                    "visit_date": self.day.isoformat(), "symptoms": rng.choice(SYMPTOMS),
                    "diagnosis": rng.choice(DIAGNOSES), "treatment": rng.choice(TREATMENTS),
                    "prescription": "肩回しのストレッチを1日3回", "notes": f"bench {self.run_tag}",
                    f"mark-{rng.choice(MARKS)}": "pain"}
            answer = self._post(f"/patients/{self._patient()}/records", form)
        elif page == "book":
            answer = self._post("/appointments", {
                "patient_id": str(self._patient()), "therapist_id": str(self.own_therapist),
                "appointment_date": self.slots.next(), "duration_minutes": "30",
                "notes": f"bench {self.run_tag}"})
            if answer.status == 409:
                return "conflict", 409, b""
        else:
            raise ValueError(page)
        location = answer.header("location", "") + answer.header("hx-redirect", "")
        if answer.status >= 400 or "/login" in location:
            return "error", answer.status, (location.encode() or answer.body[:300])
        return "ok", answer.status, b""


# --- the worker processes ---------------------------------------------------------------

def worker_main(number, specs, options, login_lock, commands, results):
    """One driver process: its users, each on its own thread while a phase runs."""
    users = []
    try:
        for clinic, in_clinic, seed in specs:
            user = User(clinic, in_clinic, "127.0.0.1", options["port"], seed, options["tag"])
            with login_lock:  # one log-in at a time: Argon2id takes 19 MiB while it hashes
                user.log_in(options["password"])
            users.append(user)
    except (LoginFailed, HTTPError) as error:
        results.put(("failed", number, str(error)))
        return
    results.put(("ready", number, len(users)))
    while True:
        command = commands.get()
        if command is None:
            break
        name, pages, weights, start_at, seconds, user_rate, max_requests = command
        stats = {page: {"latencies": array("d"), "done": 0, "ok": 0, "errors": 0,
                        "conflicts": 0, "statuses": Counter(), "samples": []} for page in pages}
        lock = threading.Lock()
        end_at = start_at + seconds
        threads = [threading.Thread(target=user_loop, args=(
            user, pages, weights, start_at, end_at, user_rate, max_requests, stats, lock))
            for user in users]
        cpu = time.process_time()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for page in stats.values():
            page["statuses"] = dict(page["statuses"])
            page["latencies"] = page["latencies"].tobytes()
        results.put(("done", number, name, stats, time.process_time() - cpu))
    for user in users:
        user.connection.close()
        user.bare.close()


def user_loop(user, pages, weights, start_at, end_at, user_rate, max_requests, stats, lock):
    rng = random.Random(user.rng.random())
    delay = start_at - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    next_at = start_at + (rng.expovariate(user_rate) if user_rate else 0)
    for _ in range(max_requests):
        if user_rate:  # a Poisson stream of requests per user; never two at once
            wait = next_at - time.monotonic()
            if wait > 0:
                time.sleep(min(wait, max(end_at - time.monotonic(), 0)))
            next_at = max(next_at, time.monotonic() - 1) + rng.expovariate(user_rate)
        if time.monotonic() >= end_at:
            break
        page = rng.choices(pages, weights)[0] if len(pages) > 1 else pages[0]
        started = time.perf_counter()
        try:
            outcome, status, note = user.do(page)
        except HTTPError as error:
            outcome, status, note = "error", 0, str(error).encode()
        latency = (time.perf_counter() - started) * 1000
        finished = time.monotonic()
        with lock:
            entry = stats[page]
            entry["latencies"].append(latency)
            entry["statuses"][status] += 1
            if finished <= end_at:
                entry["done"] += 1
            if outcome == "ok":
                entry["ok"] += 1
            elif outcome == "conflict":
                entry["conflicts"] += 1
            else:
                entry["errors"] += 1
                if len(entry["samples"]) < 3:
                    entry["samples"].append(f"{status}: {note[:300].decode('utf-8', 'replace')}")


# --- the driver -------------------------------------------------------------------------

class Driver:
    """Worker processes (pinned with the driver to its CPU) and the phases they run.

    machine_wide (several app processes sharing the machine with PostgreSQL, nginx and the
    driver): what other processes took is measured over every CPU, minus all that is measured
    (the app processes, PostgreSQL, nginx, the driver), instead of on the server's one core."""

    def __init__(self, clinics, options, clients, workers, server_core=None, machine_wide=False):
        self.server_core = server_core if (server_core or "").isdigit() else None
        self.machine_wide = machine_wide
        self.context = multiprocessing.get_context("fork")
        login_lock = self.context.Lock()
        self.results = self.context.Queue()
        self.commands, self.processes = [], []
        specs = [[] for _ in range(workers)]
        per_clinic = Counter()
        for number in range(clients):
            clinic = clinics[number % len(clinics)]
            specs[number % workers].append((clinic, per_clinic[clinic.code], 1000 + number))
            per_clinic[clinic.code] += 1
        for number in range(workers):
            commands = self.context.Queue()
            process = self.context.Process(target=worker_main, daemon=True, args=(
                number, specs[number], options, login_lock, commands, self.results))
            process.start()
            self.commands.append(commands)
            self.processes.append(process)
        for _ in range(workers):
            message = self._result(timeout=60 + 5 * clients)
            if message[0] == "failed":
                self.stop()
                raise LoginFailed(message[2])

    def _result(self, timeout):
        try:
            return self.results.get(timeout=timeout)
        except queue.Empty:
            self.stop()
            raise SystemExit("a driver process did not answer in time") from None

    def run(self, name, pages, weights, seconds, server, user_rate=0.0, max_requests=10**7):
        start_at = time.monotonic() + 0.3
        end_at = start_at + seconds
        for commands in self.commands:
            commands.put((name, pages, weights, start_at, seconds, user_rate, max_requests))
        time.sleep(max(start_at - time.monotonic(), 0))
        cpu_start, peak_rss = server.cpu_seconds(), 0.0
        side_start = server.side_cpu_seconds()
        core_start = machine_times() if self.machine_wide else core_times(self.server_core)
        while time.monotonic() < end_at:  # sample the server's memory while the phase runs
            peak_rss = max(peak_rss, server.memory()[1] or 0)
            time.sleep(min(0.2, max(end_at - time.monotonic(), 0)))
        server_cpu = server.cpu_seconds() - cpu_start
        side_end = server.side_cpu_seconds()
        core_end = machine_times() if self.machine_wide else core_times(self.server_core)
        messages = [self._result(timeout=120) for _ in self.commands]
        result = summarize(name, pages, messages, seconds, server_cpu, peak_rss)
        side = {k: side_end[k] - side_start[k] for k in side_start
                if side_start[k] is not None and side_end.get(k) is not None}
        if side:  # PostgreSQL's and nginx's CPU time, beside the app's
            done = result["requests_per_s"] * seconds
            result["side_cpu_percent"] = {k: round(100 * v / seconds, 1) for k, v in side.items()}
            result["side_cpu_ms_per_request"] = {k: round(1000 * v / done, 3) if done else None
                                                 for k, v in side.items()}
        if core_start is not None and core_end is not None:  # who else used the server's core
            used = {k: core_end[k] - core_start[k] for k in core_end}
            measured = server_cpu
            if self.machine_wide:
                measured += sum(side.values()) + result["driver_cpu_percent"] * seconds / 100
            result["server_core"] = {
                "other_processes_percent": round(max(0.0, 100 * (used["tasks"] - measured)
                                                     / seconds), 1),
                "irq_percent": round(100 * used["irq"] / seconds, 1),
                "steal_percent": round(100 * used["steal"] / seconds, 1)}
            if self.machine_wide:
                result["server_core"]["machine_busy_percent"] = round(
                    100 * used["tasks"] / seconds, 1)
        return result

    def stop(self):
        for commands in self.commands:
            commands.put(None)
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()


def summarize(name, pages, messages, wall, server_cpu, peak_rss):
    """Per page: throughput, latency percentiles, errors, the server's CPU per request."""
    merged = {page: {"latencies": array("d"), "done": 0, "ok": 0, "errors": 0, "conflicts": 0,
                     "statuses": Counter(), "samples": []} for page in pages}
    driver_cpu = 0.0
    for _, _, _, stats, cpu in messages:
        driver_cpu += cpu
        for page, entry in stats.items():
            target = merged[page]
            latencies = array("d")
            latencies.frombytes(entry["latencies"])
            target["latencies"].extend(latencies)
            for key in ("done", "ok", "errors", "conflicts"):
                target[key] += entry[key]
            target["statuses"].update(entry["statuses"])
            target["samples"].extend(entry["samples"][: max(0, 3 - len(target["samples"]))])
    total = sum(entry["done"] for entry in merged.values())
    out = {"phase": name, "seconds": wall, "requests_per_s": round(total / wall, 1),
           "server_cpu_percent": round(100 * server_cpu / wall, 1),
           "server_cpu_ms_per_request": round(1000 * server_cpu / total, 3) if total else None,
           "driver_cpu_percent": round(100 * driver_cpu / wall, 1),
           "server_peak_rss_mb": round(peak_rss, 1), "pages": {}}
    for page, entry in merged.items():
        values = sorted(entry["latencies"])
        out["pages"][page] = {
            "requests": len(values), "requests_per_s": round(entry["done"] / wall, 1),
            "p50_ms": _round(percentile(values, 0.50)), "p90_ms": _round(percentile(values, 0.90)),
            "p99_ms": _round(percentile(values, 0.99)), "max_ms": _round(values[-1] if values else None),
            "errors": entry["errors"], "conflicts": entry["conflicts"],
            "statuses": {str(k): v for k, v in sorted(entry["statuses"].items())},
            "error_samples": entry["samples"],
        }
    return out


def _round(value):
    return None if value is None else round(value, 2)


def env_pair(text):
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, not {text!r}")
    return name, value


def parse_mix(text):
    mix = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        if name.strip() not in PAGES:
            raise argparse.ArgumentTypeError(f"unknown page {name!r} (pages: {', '.join(PAGES)})")
        mix[name.strip()] = float(weight)
    return mix


def start_server(database, port, args, log_name):
    """One run.py pinned to --server-cpu, or with --processes N, N of them behind nginx; for
    a PostgreSQL URL on this machine, with PostgreSQL's process to measure its CPU."""
    if args.processes > 1:
        server = Front(database, port, args.threads, args.processes, cpus=args.server_cpus,
                       log_name=log_name, extra_env=dict(args.server_env),
                       nginx_workers=args.nginx_workers)
    else:
        server = Server(database, port, args.threads, cpu=args.server_cpu, log_name=log_name,
                        extra_env=dict(args.server_env))
    if postgres.is_url(database):
        pid = postgres.server_pid(database)
        if pid is not None:
            server.side_pids["postgres"] = pid
    return server


def bench_database(database, args, tag):
    facts = database_facts(database)
    print(f"\n== {facts['path']}: {facts['label']}, {facts['file_mb']} MB", flush=True)
    clinics = discover(database, args.clients, args.username)
    port = free_port(args.port)
    name = postgres.name(database) if postgres.is_url(database) else os.path.basename(database)
    server = start_server(database, port, args, f"{tag}-{name}")
    result = {"database": facts, "clinics_used": len(clinics), "server_log": server.log_path,
              "threads": args.threads, "processes": args.processes, "phases": {}}
    driver = None
    try:
        server.wait_ready()
        result["memory_after_start_mb"] = server.memory()[1]
        options = {"port": port, "password": args.password, "tag": tag}
        if args.processes > 1:
            result["server_cpus"] = server.cpus
            print(f"   {args.processes} servers (pids {', '.join(map(str, server.pids))}, CPUs "
                  f"{', '.join(c or '-' for c in server.cpus)}) behind nginx on :{port}, "
                  f"{args.threads} threads each; logging in {args.clients} users of "
                  f"{len(clinics)} clinics", flush=True)
        else:
            print(f"   server pid {server.pid} on :{port}, {args.threads} threads; logging in "
                  f"{args.clients} users of {len(clinics)} clinics", flush=True)
        driver = Driver(clinics, options, args.clients, args.workers, args.server_cpu,
                        machine_wide=args.processes > 1)
        result["memory_after_logins_mb"] = dict(zip(("hwm", "rss"), server.memory()))
        mix = args.mix
        names, weights = list(mix), [mix[n] for n in mix]
        if args.warmup:
            driver.run("warmup", names, weights, args.warmup, server)
        phase = driver.run("bare", ["bare"], [1], args.seconds, server)
        result["phases"]["bare"] = phase
        print(f"   bare: {phase['requests_per_s']} req/s, driver CPU {phase['driver_cpu_percent']}%",
              flush=True)
        capacity = {}
        for page in names:
            phase = driver.run(page, [page], [1], args.page_seconds, server)
            result["phases"][page] = phase
            capacity[page] = phase["requests_per_s"]
            print(f"   {page}: {phase['requests_per_s']} req/s, p99 "
                  f"{phase['pages'][page]['p99_ms']} ms, errors {phase['pages'][page]['errors']}",
                  flush=True)
        total_weight = sum(weights)
        mix_capacity = 1 / sum((mix[p] / total_weight) / max(capacity[p], 0.1) for p in names)
        rate = args.rate or args.load * mix_capacity
        phase = driver.run("mix", names, weights, args.seconds, server,
                           user_rate=(rate / args.clients) if args.load < 1 or args.rate else 0)
        phase["offered_per_s"] = round(rate, 1)
        phase["capacity_estimate_per_s"] = round(mix_capacity, 1)
        result["phases"]["mix"] = phase
        print(f"   mix: {phase['requests_per_s']} req/s (offered {rate:.0f}, capacity "
              f"≈{mix_capacity:.0f})", flush=True)
        hwm, rss = server.memory()
        result["memory_end_mb"] = {"hwm": hwm, "rss": rss}
        if args.processes > 1:
            result["memory_end_per_process_mb"] = [{"hwm": h, "rss": r}
                                                   for h, r in server.memories()]
    finally:
        if driver is not None:
            driver.stop()
        server.stop()
    result["log"] = log_counts(server.log_text())
    return result


# --- the report -------------------------------------------------------------------------

def _ms(value):
    return "–" if value is None else (f"{value:.1f}" if value < 100 else f"{value:.0f}")


def _cpu_ratio(bare, phase):
    """The bare request's server CPU time as a share of this page's: the cost ratio, which
    other processes on the core hardly disturb (they take time, not CPU from the server)."""
    page, base = phase.get("server_cpu_ms_per_request"), bare.get("server_cpu_ms_per_request")
    return f"{100 * base / page:.0f}%" if page and base else "–"


def _others(phase):
    """How much of the server's core other processes took in a phase."""
    value = phase.get("server_core", {}).get("other_processes_percent")
    return "?" if value is None else f"{value:.0f}%"


def table(result):
    phases = result["phases"]
    bare = phases["bare"]
    bare_rate = bare["requests_per_s"] or 1
    mix = phases.get("mix", {"pages": {}})
    lines = [
        "| page | alone req/s | vs bare | server CPU ms/req (busy) | vs bare by CPU | "
        "alone p50 / p99 ms | "
        "mix req/s | mix p50 ms | mix p99 ms | errors | conflicts | others on core |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    b = bare["pages"]["bare"]
    lines.append(f"| {BARE} | {bare['requests_per_s']:.0f} | 100% | "
                 f"{bare['server_cpu_ms_per_request']:.3f} ({bare['server_cpu_percent']:.0f}%) | "
                 f"100% | {_ms(b['p50_ms'])} / {_ms(b['p99_ms'])} "
                 f"| – | – | – | {b['errors']} | – | {_others(bare)} |")
    for page in PAGES:
        if page not in phases:
            continue
        alone = phases[page]
        a, m = alone["pages"][page], mix["pages"].get(page, {})
        errors = a["errors"] + m.get("errors", 0)
        conflicts = a["conflicts"] + m.get("conflicts", 0)
        lines.append(
            f"| {PAGES[page]} | {alone['requests_per_s']:.0f} | "
            f"{100 * alone['requests_per_s'] / bare_rate:.0f}% | "
            f"{alone['server_cpu_ms_per_request']:.2f} ({alone['server_cpu_percent']:.0f}%) | "
            f"{_cpu_ratio(bare, alone)} | {_ms(a['p50_ms'])} / {_ms(a['p99_ms'])} | "
            f"{m.get('requests_per_s', 0):.0f} | {_ms(m.get('p50_ms'))} | {_ms(m.get('p99_ms'))} | "
            f"{errors} | {conflicts if page == 'book' else '–'} | {_others(alone)} |")
    if "mix" in phases:
        lines.append(f"| whole mix | – | – | {mix['server_cpu_ms_per_request'] or 0:.2f} "
                     f"({mix['server_cpu_percent']:.0f}%) | {_cpu_ratio(bare, mix)} | – | "
                     f"{mix['requests_per_s']:.0f} | – | – | "
                     f"{sum(p['errors'] for p in mix['pages'].values())} | – | {_others(mix)} |")
    return "\n".join(lines)


def notes(result):
    if result.get("processes", 1) > 1:
        return notes_behind_nginx(result)
    phases = result["phases"]
    end = result.get("memory_end_mb", {})
    login = result.get("memory_after_logins_mb", {})
    driver_peak = max(p["driver_cpu_percent"] for p in phases.values())
    core = [p.get("server_core", {}) for p in phases.values()]
    other = max((c.get("other_processes_percent", 0) for c in core), default=0)
    irq = max((c.get("irq_percent", 0) for c in core), default=0)
    steal = max((c.get("steal_percent", 0) for c in core), default=0)
    peak_phase_rss = max(p["server_peak_rss_mb"] for p in phases.values())
    log = result["log"]
    mix = phases.get("mix", {})
    return "\n".join([
        f"- server memory: peak (VmHWM) **{end.get('hwm', 0):.1f} MiB**; "
        f"RSS {result.get('memory_after_start_mb', 0):.1f} after start, "
        f"{login.get('rss', 0):.1f} after the log-ins (VmHWM {login.get('hwm', 0):.1f}), "
        f"at most {peak_phase_rss:.1f} while serving, {end.get('rss', 0):.1f} at the end",
        f"- server CPU (core {result.get('server_cpu', 0)}): the (busy) column is how much of its core "
        f"the server used in each flat-out phase; below ~95% it waited for something else "
        f"(fsync of a write, the write lock); {mix.get('server_cpu_percent', 0):.0f}% in the mix "
        f"(offered {mix.get('offered_per_s', 0):.0f} req/s of an estimated capacity of "
        f"{mix.get('capacity_estimate_per_s', 0):.0f})",
        f"- driver CPU (its own core): at most {driver_peak:.0f}% in any phase",
        f"- the server's core, at most in any phase: {other:.0f}% other processes (noise: keep the "
        f"machine otherwise idle{_side_note(phases)}), {irq:.0f}% interrupts (the loopback "
        f"network's work), {steal:.0f}% stolen by the hypervisor",
        f"- server log: {log['database_is_locked']} × \"database is locked\", "
        f"{log['tracebacks']} tracebacks, {log['queue_depth_warnings']} waitress queue-depth "
        f"warnings; {result['threads']} waitress threads; {result['clinics_used']} clinics",
    ])


def _side_note(phases):
    """For a server on PostgreSQL: its backends, not pinned, count among the other processes."""
    names = sorted({k for p in phases.values() for k in p.get("side_cpu_percent", {})})
    return (f"; {' and '.join(names)}, not pinned, also ran there: see the CPU table"
            if names else "")


def notes_behind_nginx(result):
    """notes() for several app processes behind nginx, all sharing the machine."""
    phases = result["phases"]
    end = result.get("memory_end_mb", {})
    each = result.get("memory_end_per_process_mb", [])
    core = [p.get("server_core", {}) for p in phases.values()]
    rest = max((c.get("other_processes_percent", 0) for c in core), default=0)
    irq = max((c.get("irq_percent", 0) for c in core), default=0)
    steal = max((c.get("steal_percent", 0) for c in core), default=0)
    peak_phase_rss = max(p["server_peak_rss_mb"] for p in phases.values())
    cpus = ", ".join(c or "not pinned" for c in result.get("server_cpus", []))
    log = result["log"]
    mix = phases.get("mix", {})
    return "\n".join([
        f"- {result['processes']} app processes (run.py, {result['threads']} waitress threads "
        f"each) behind nginx, pinned to CPUs {cpus}; PostgreSQL, nginx and the driver are not "
        f"pinned: on this machine's {os.cpu_count()} CPUs they all share the cores, so every "
        f"CPU figure is a share of the whole machine, not of a core per process",
        f"- server memory per process: peak (VmHWM) **{end.get('hwm', 0):.1f} MiB** at most ("
        + ", ".join(f"process {n} {m['hwm']:.1f}" for n, m in enumerate(each, 1)) +
        f"); RSS at most {peak_phase_rss:.1f} while serving, at the end "
        + ", ".join(f"{m['rss']:.1f}" for m in each),
        f"- server CPU: the (busy) column is the app processes' CPU time together, as a share "
        f"of one core (up to {result['processes'] * 100}%); {mix.get('server_cpu_percent', 0):.0f}% "
        f"in the mix (offered {mix.get('offered_per_s', 0):.0f} req/s of an estimated capacity "
        f"of {mix.get('capacity_estimate_per_s', 0):.0f}); PostgreSQL's and nginx's in the CPU "
        f"table below",
        f"- the machine, at most in any phase: {rest:.0f}% of a core used by none of the app "
        f"processes, PostgreSQL, nginx and the driver (noise: keep the machine otherwise idle), "
        f"{irq:.0f}% interrupts, {steal:.0f}% stolen by the hypervisor",
        f"- server logs: {log['database_is_locked']} × \"database is locked\", "
        f"{log['tracebacks']} tracebacks, {log['queue_depth_warnings']} waitress queue-depth "
        f"warnings; {result['clinics_used']} clinics",
    ])


def cpu_table(result):
    """Per phase: the CPU of the app processes, PostgreSQL, nginx and the driver, as % of
    one core and (servers) ms per request; the rest is what none of them used."""
    phases = result["phases"]
    names = sorted({k for p in phases.values() for k in p.get("side_cpu_percent", {})},
                   key=lambda k: (k != "postgres", k))
    machine = result.get("processes", 1) > 1
    lines = ["| phase | req/s | app CPU % (ms/req) | " +
             "".join(f"{n} CPU % (ms/req) | " for n in names) + "driver CPU % |" +
             (" rest % | machine busy % |" if machine else ""),
             "| --- | ---: | ---: |" + " ---: |" * len(names) + " ---: |" +
             (" ---: | ---: |" if machine else "")]
    for name, phase in phases.items():
        if name == "warmup":
            continue
        cells = [f"{phase['server_cpu_percent']:.0f} ({_ms3(phase['server_cpu_ms_per_request'])})"]
        for n in names:
            cells.append(f"{phase.get('side_cpu_percent', {}).get(n, 0):.0f} "
                         f"({_ms3(phase.get('side_cpu_ms_per_request', {}).get(n))})")
        cells.append(f"{phase['driver_cpu_percent']:.0f}")
        if machine:
            core = phase.get("server_core", {})
            cells += [f"{core.get('other_processes_percent', 0):.0f}",
                      f"{core.get('machine_busy_percent', 0):.0f}"]
        lines.append(f"| {name} | {phase['requests_per_s']:.0f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ms3(value):
    return "–" if value is None else f"{value:.2f}"


def targets(result):
    """The issue's targets, met or not, for this database."""
    phases = result["phases"]
    bare = phases["bare"]["requests_per_s"] or 1
    checks = []
    mix = phases.get("mix", {"pages": {}})["pages"]
    worst = max(((p["p99_ms"] or 0, n) for n, p in mix.items()), default=(0, "-"))
    checks.append(("every page's p99 < 50 ms (mix)", worst[0] < 50, f"worst {worst[1]} {worst[0]:.1f} ms"))
    for page in PAGES:
        if page in phases:
            floor = 20 if page in BUSIEST else 10
            ratio = 100 * phases[page]["requests_per_s"] / bare
            checks.append((f"{page} ≥ {floor}% of bare", ratio >= floor, f"{ratio:.0f}%"))
    hwm = result.get("memory_end_mb", {}).get("hwm") or 0
    checks.append(("peak memory < 120 MB", hwm < 120, f"{hwm:.1f} MiB"))
    errors = sum(p["errors"] for name, phase in phases.items() if name != "warmup"
                 for p in phase["pages"].values())
    checks.append(("zero errors", errors == 0, str(errors)))
    return "\n".join(f"- {'✅' if ok else '❌'} {label}: {value}" for label, ok, value in checks)


def growth(results):
    """p50 (mix) and CPU per request of each page at each database, against the smallest."""
    ordered = sorted(results, key=lambda r: r["database"]["medical_records"])
    head = "| page | " + " | ".join(f"p50 at {r['database']['label']}" for r in ordered) + \
        " | p50 growth | CPU/req growth |"
    lines = [head, "|" + " --- |" * (len(ordered) + 3)]
    for page in PAGES:
        if not all(page in r["phases"].get("mix", {}).get("pages", {}) for r in ordered):
            continue
        p50s = [r["phases"]["mix"]["pages"][page]["p50_ms"] or 0 for r in ordered]
        costs = [r["phases"][page]["server_cpu_ms_per_request"] or 0 for r in ordered]
        lines.append(f"| {page} | " + " | ".join(_ms(v) for v in p50s) +
                     f" | {p50s[-1] / max(p50s[0], 1e-9):.2f}× | {costs[-1] / max(costs[0], 1e-9):.2f}× |")
    return "\n".join(lines)


def report(run):
    parts = [f"# Karusaku benchmark {run['started']}", "",
             f"Machine: {run['machine']['cpu']} × {run['machine']['cpus']}, {run['machine']['memory']}, "
             f"Linux {run['machine']['kernel']}, Python {run['machine']['python']}, "
             f"SQLite {run['machine']['sqlite']}.  ",
             f"Settings: {run['settings']['clients']} clients in {run['settings']['workers']} driver "
             f"processes, {_placement(run['settings'])}; {run['settings']['seconds']} s bare and mix, "
             f"{run['settings']['page_seconds']} s per page alone; mix {run['settings']['mix']}, "
             f"load {run['settings']['load']}."]
    for result in run["results"]:
        facts = result["database"]
        engine = f" in {facts['server']} (pg_database_size)" if facts.get("server") else ""
        parts += ["", f"## {facts['label']} — `{facts['path']}`", "",
                  f"{facts['clinics']} clinics, {facts['patients']:,} patients, "
                  f"{facts['appointments']:,} appointments, {facts['medical_records']:,} records, "
                  f"{facts['file_mb']} MB{engine}.", "", table(result), "", notes(result), ""]
        if result.get("processes", 1) > 1 or any("side_cpu_percent" in p
                                                 for p in result["phases"].values()):
            parts += ["CPU per phase (% of one core):", "", cpu_table(result), ""]
        parts += ["Targets (the issue's, meant at 60 months):", "", targets(result)]
    if len(run["results"]) > 1:
        parts += ["", "## Growth", "", growth(run["results"])]
    return "\n".join(parts) + "\n"


def _placement(settings):
    """Where the server(s) and the driver run, for the report's settings line."""
    driver = (f"driver to CPU {settings['driver_cpu']}" if settings["driver_cpu"] != ""
              else "driver not pinned")
    if settings.get("processes", 1) > 1:
        return (f"{settings['processes']} app processes behind nginx ({settings['nginx_workers']} "
                f"worker) pinned to CPUs {settings['server_cpu']}, {driver}")
    return f"server pinned to CPU {settings['server_cpu']}, {driver}"


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Benchmark the real Karusaku server (run.py, waitress) on one or more "
                    "databases; results in bench/results/<timestamp>.{json,md}.")
    parser.add_argument("--database", action="append", required=True, metavar="PATH|URL",
                        help="a SQLite database to serve, or a postgresql:// URL of the app's "
                             "role (repeat for several, e.g. 1, 12, 60 months)")
    parser.add_argument("--processes", type=int, default=1,
                        help="app processes (run.py); above 1 they run behind nginx on --port, "
                             "each on a port of its own (default 1: one server, no nginx)")
    parser.add_argument("--nginx-workers", type=int, default=1,
                        help="nginx worker_processes with --processes N (default 1)")
    parser.add_argument("--clients", type=int, default=30, help="concurrent users (default 30)")
    parser.add_argument("--seconds", type=float, default=30,
                        help="length of the bare and the mix phases (default 30)")
    parser.add_argument("--page-seconds", type=float, default=10,
                        help="length of each page's flat-out phase (default 10)")
    parser.add_argument("--warmup", type=float, default=5, help="untimed warm-up seconds (default 5)")
    parser.add_argument("--port", type=int, default=8765, help="the server's port (default 8765)")
    parser.add_argument("--threads", type=int, default=8, help="KARUSAKU_THREADS (default 8)")
    parser.add_argument("--workers", type=int, default=6,
                        help="driver processes sharing the clients (default 6)")
    parser.add_argument("--mix", type=parse_mix, default=parse_mix(DEFAULT_MIX),
                        help=f"page weights (default {DEFAULT_MIX})")
    parser.add_argument("--load", type=float, default=0.5,
                        help="the mix's offered load as a fraction of the server's capacity for "
                             "it (default 0.5; 1 = flat out)")
    parser.add_argument("--rate", type=float, default=0,
                        help="the mix's offered requests/s instead of --load")
    parser.add_argument("--password", default=os.environ.get("KARUSAKU_BENCH_PASSWORD", DEFAULT_PASSWORD),
                        help="the password of the clinics' logins ($KARUSAKU_BENCH_PASSWORD)")
    parser.add_argument("--username", help="log in as this user in every clinic (default: "
                                           "each clinic's first owner)")
    parser.add_argument("--server-cpu", default=None,
                        help="CPU for the server (taskset; default 0); with --processes N a "
                             "list, process i on the i-th (cycling), '' for none (default: "
                             "process i on CPU i modulo the machine's CPUs)")
    parser.add_argument("--driver-cpu", default=None,
                        help="CPU for the driver (default 1; with --processes N: not pinned, "
                             "'' for none)")
    parser.add_argument("--server-env", action="append", default=[], type=env_pair,
                        metavar="NAME=VALUE", help="an extra environment variable for the server "
                                                   "(repeatable), e.g. MALLOC_ARENA_MAX=2")
    parser.add_argument("--out", default=RESULTS, help="where results go (default bench/results)")
    args = parser.parse_args(argv)
    args.workers = max(1, min(args.workers, args.clients))
    args.processes = max(1, args.processes)
    if args.processes > 1:
        args.server_cpus = None if args.server_cpu is None else [
            c.strip() for c in args.server_cpu.split(",") if c.strip()]
        args.server_cpu = ",".join(cpu_of(n, args.server_cpus) or "-"
                                   for n in range(args.processes))
        args.driver_cpu = "" if args.driver_cpu is None else args.driver_cpu
    else:
        args.server_cpu = "0" if args.server_cpu is None else args.server_cpu
        args.driver_cpu = "1" if args.driver_cpu is None else args.driver_cpu

    if args.driver_cpu != "":
        os.sched_setaffinity(0, {int(c) for c in args.driver_cpu.split(",")})
    started = datetime.now()
    tag = started.strftime("%Y%m%d-%H%M%S")
    run = {"started": started.isoformat(timespec="seconds"), "machine": machine_facts(),
           "settings": {"clients": args.clients, "workers": args.workers, "seconds": args.seconds,
                        "page_seconds": args.page_seconds, "warmup": args.warmup,
                        "threads": args.threads, "server_cpu": args.server_cpu,
                        "processes": args.processes, "nginx_workers": args.nginx_workers,
                        "driver_cpu": args.driver_cpu, "load": args.load, "rate": args.rate,
                        "server_env": dict(args.server_env),
                        "mix": ",".join(f"{k}={v:g}" for k, v in args.mix.items())},
           "results": []}
    for database in args.database:
        try:
            result = bench_database(database, args, tag)
        except LoginFailed as error:
            raise SystemExit(f"log-in failed: {error}") from None
        result["server_cpu"] = args.server_cpu
        run["results"].append(result)
    text = report(run)
    print("\n" + text)
    os.makedirs(args.out, exist_ok=True)
    base = os.path.join(args.out, tag)
    with open(base + ".json", "w") as f:
        json.dump(run, f, indent=1, ensure_ascii=False)
    with open(base + ".md", "w") as f:
        f.write(text)
    print(f"wrote {base}.json and {base}.md")


if __name__ == "__main__":
    main()
