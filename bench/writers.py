"""Writers under load: many users saving records and booking slots at once through the real
server (run.py, waitress), then every acknowledged write looked up in the database.

    .venv/bin/python bench/writers.py [--database PATH] [--clients 50] [--seconds 60]

Each write carries a unique tag in its notes (`writers <run> <user> <n>`); a write counts as
acknowledged when the server answered it with success (200 for a saved record, 201 for a
booking: the htmx answers). Afterwards the tags are read back from the database: every
acknowledged write must be there (none lost), and the server's log must not contain
"database is locked". Without --database it generates a fresh one (10 clinics, 1 month:
`bench/generate.py DATABASE --clinics 10 --months 1`) in bench/out/; the writes go into the
database given.
"""
import argparse
import json
import multiprocessing
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import (
    BENCH,
    DEFAULT_PASSWORD,
    OUT,
    REPO,
    RESULTS,
    Connection,
    HTTPError,
    LoginFailed,
    Server,
    SlotCursor,
    connect_readonly,
    discover,
    free_port,
    log_counts,
    log_in,
    machine_facts,
    percentile,
    server_python,
    today,
)


def writer(clinic, in_clinic, number, options, login_lock, results):
    """One user: log in, then save records and book its own slots until the time is up."""
    rng = random.Random(number)
    connection = Connection("127.0.0.1", options["port"])
    try:
        with login_lock:
            csrf = log_in(connection, clinic.code, clinic.username, options["password"])
    except (LoginFailed, HTTPError) as error:
        results.put({"failed": str(error)})
        return
    therapist = clinic.therapists[in_clinic % len(clinic.therapists)]
    slots = SlotCursor(clinic, therapist, clinic.first_free_day + timedelta(days=120 * in_clinic))
    acked = {"record": [], "book": []}
    latencies = {"record": [], "book": []}
    outcome = Counter()
    samples = []
    headers = (("X-CSRFToken", csrf), ("HX-Request", "true"))
    time.sleep(max(options["start_at"] - time.monotonic(), 0))
    end_at = options["start_at"] + options["seconds"]
    sequence = 0
    while time.monotonic() < end_at and sequence < options["max_writes"]:
        sequence += 1
        kind = "record" if rng.random() < 0.5 else "book"
        tag = f"writers {options['tag']} {number} {sequence}"
        patient = rng.choice(clinic.patients)[0]
        if kind == "record":
            path, form, expected = f"/patients/{patient}/records", {
                "therapist_id": str(therapist), "visit_date": today().isoformat(),
                "symptoms": "腰部の痛み。", "treatment": "手技療法 20分", "notes": tag}, 200
        else:
            path, form, expected = "/appointments", {
                "patient_id": str(patient), "therapist_id": str(therapist),
                "appointment_date": slots.next(), "duration_minutes": "30", "notes": tag}, 201
        note = ""
        started = time.perf_counter()
        try:
            answer = connection.request("POST", path, form=form, headers=headers)
            status = answer.status
        except HTTPError as error:
            status, answer, note = 0, None, str(error)
        latencies[kind].append((time.perf_counter() - started) * 1000)
        if status == expected:
            acked[kind].append(tag)
            outcome[f"{kind} acknowledged"] += 1
        else:
            outcome[f"{kind} {status or 'no answer'}"] += 1
            if len(samples) < 3:
                body = answer.body[:300].decode("utf-8", "replace") if answer else note
                samples.append(f"{kind} {status}: {body}")
    connection.close()
    results.put({"acked": acked, "outcome": dict(outcome), "samples": samples,
                 "latencies": latencies})


def drive(clinics, options, clients):
    """All writers as threads of a few processes (the GIL of one would slow them down)."""
    context = multiprocessing.get_context("fork")
    results, login_lock = context.Queue(), context.Lock()
    specs = []
    per_clinic = Counter()
    for number in range(clients):
        clinic = clinics[number % len(clinics)]
        specs.append((clinic, per_clinic[clinic.code], number))
        per_clinic[clinic.code] += 1
    processes = []
    groups = [specs[i::options["workers"]] for i in range(options["workers"])]
    for group in groups:
        process = context.Process(target=_threads, args=(group, options, login_lock, results),
                                  daemon=True)
        process.start()
        processes.append(process)
    collected = [results.get(timeout=options["seconds"] + 10 * clients + 120)
                 for _ in range(clients)]
    for process in processes:
        process.join(timeout=10)
    return collected


def _threads(group, options, login_lock, results):
    threads = [threading.Thread(target=writer, args=(*spec, options, login_lock, results))
               for spec in group]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def stored_tags(database, tag):
    db = connect_readonly(database)
    pattern = f"writers {tag} %"
    records = {r[0] for r in db.execute(
        "SELECT notes FROM medical_records WHERE notes LIKE ?", (pattern,))}
    bookings = {r[0] for r in db.execute(
        "SELECT notes FROM appointments WHERE notes LIKE ?", (pattern,))}
    duplicates = db.execute(
        "SELECT count(*) - count(DISTINCT notes) FROM medical_records WHERE notes LIKE ?",
        (pattern,)).fetchone()[0]
    db.close()
    return {"record": records, "book": bookings}, duplicates


def main(argv=None):
    parser = argparse.ArgumentParser(description="Writers under load: records and bookings "
                                     "through waitress, then every acknowledged write counted.")
    parser.add_argument("--database", help="a SQLite database (default: a fresh one generated "
                                           "in bench/out/)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent writers (default 50)")
    parser.add_argument("--seconds", type=float, default=60, help="how long (default 60)")
    parser.add_argument("--threads", type=int, default=8, help="KARUSAKU_THREADS (default 8)")
    parser.add_argument("--workers", type=int, default=5, help="driver processes (default 5)")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--password", default=os.environ.get("KARUSAKU_BENCH_PASSWORD",
                                                             DEFAULT_PASSWORD))
    parser.add_argument("--username", help="log in as this user in every clinic (default: "
                                           "each clinic's first owner)")
    parser.add_argument("--max-writes", type=int, default=100000, help="per writer (a bound)")
    parser.add_argument("--server-cpu", default="0")
    parser.add_argument("--driver-cpu", default="1")
    parser.add_argument("--out", default=RESULTS)
    args = parser.parse_args(argv)
    if args.driver_cpu != "":
        os.sched_setaffinity(0, {int(c) for c in args.driver_cpu.split(",")})
    started = datetime.now()
    tag = started.strftime("%Y%m%d-%H%M%S")
    database = args.database
    if database is None:
        os.makedirs(OUT, exist_ok=True)
        database = os.path.join(OUT, f"writers-{tag}.db")
        print(f"generating {database}: 10 clinics, 1 month (bench/generate.py)", flush=True)
        env = dict(os.environ,
                   KARUSAKU_SECRET_KEY=os.environ.get("KARUSAKU_SECRET_KEY", "karusaku-bench"))
        subprocess.run([server_python(), os.path.join(BENCH, "generate.py"), database,
                        "--clinics", "10", "--months", "1"],
                       cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
    clinics = discover(database, args.clients, args.username)
    port = free_port(args.port)
    server = Server(database, port, args.threads, cpu=args.server_cpu,
                    log_name=f"{tag}-writers-{os.path.basename(database)}")
    try:
        server.wait_ready()
        options = {"port": port, "password": args.password, "tag": tag, "seconds": args.seconds,
                   "max_writes": args.max_writes, "workers": max(1, min(args.workers, args.clients)),
                   # logging in, one at a time, before the writing starts together
                   "start_at": time.monotonic() + 5 + 0.3 * args.clients}
        print(f"server pid {server.pid} on :{port}, {args.threads} threads; {args.clients} writers "
              f"of {len(clinics)} clinics for {args.seconds:g} s", flush=True)
        collected = drive(clinics, options, args.clients)
        hwm, rss = server.memory()
    finally:
        server.stop()
    failed = [c["failed"] for c in collected if "failed" in c]
    if failed:
        raise SystemExit(f"log-in failed: {failed[0]}")
    acked = {"record": set(), "book": set()}
    latencies = {"record": [], "book": []}
    outcome, samples = Counter(), []
    for c in collected:
        for kind in acked:
            acked[kind].update(c["acked"][kind])
            latencies[kind].extend(c["latencies"][kind])
        outcome.update(c["outcome"])
        samples.extend(c["samples"][: max(0, 5 - len(samples))])
    stored, duplicates = stored_tags(database, tag)
    log = log_counts(server.log_text())
    rows = []
    for kind, label in (("record", "records (`POST /patients/<id>/records`)"),
                        ("book", "bookings (`POST /appointments`)")):
        lost = acked[kind] - stored[kind]
        extra = stored[kind] - acked[kind]
        attempts = sum(v for k, v in outcome.items() if k.startswith(kind))
        values = sorted(latencies[kind])
        rows.append({"kind": kind, "label": label, "attempted": attempts,
                     "acknowledged": len(acked[kind]), "stored": len(stored[kind]),
                     "lost": len(lost), "stored_unacknowledged": len(extra),
                     "per_s": round(len(acked[kind]) / args.seconds, 1),
                     "p50_ms": round(percentile(values, 0.5) or 0, 1),
                     "p99_ms": round(percentile(values, 0.99) or 0, 1),
                     "failures": {k: v for k, v in outcome.items()
                                  if k.startswith(kind) and not k.endswith("acknowledged")}})
    ok = (all(r["lost"] == 0 and r["acknowledged"] == r["stored"] for r in rows)
          and log["database_is_locked"] == 0 and not any(r["failures"] for r in rows))
    lines = [f"# Karusaku writers under load {started.isoformat(timespec='seconds')}", "",
             f"{args.clients} writers of {len(clinics)} clinics for {args.seconds:g} s through "
             f"waitress ({args.threads} threads, server on CPU {args.server_cpu}), database "
             f"`{database}`.", "",
             "| writes | attempted | acknowledged | stored | lost | stored, not acknowledged "
             "| acknowledged/s | p50 / p99 ms | failures |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        failures = ", ".join(f"{k.split(' ', 1)[1]}: {v}" for k, v in r["failures"].items()) or "none"
        lines.append(f"| {r['label']} | {r['attempted']} | {r['acknowledged']} | {r['stored']} | "
                     f"{r['lost']} | {r['stored_unacknowledged']} | {r['per_s']} | "
                     f"{r['p50_ms']} / {r['p99_ms']} | {failures} |")
    lines += ["", f"- \"database is locked\" in the server's log: **{log['database_is_locked']}**; "
                  f"tracebacks: {log['tracebacks']}; duplicate records: {duplicates}",
              f"- server memory: peak (VmHWM) {hwm:.1f} MiB, RSS {rss:.1f} MiB at the end",
              f"- result: **{'PASS' if ok else 'FAIL'}** (acknowledged = stored, nothing lost, "
              f"no failed write, no \"database is locked\")"]
    if samples:
        lines += ["", "Failure samples:", ""] + [f"- `{s[:200]}`" for s in samples]
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    os.makedirs(args.out, exist_ok=True)
    base = os.path.join(args.out, f"{tag}-writers")
    with open(base + ".json", "w") as f:
        json.dump({"started": started.isoformat(timespec="seconds"), "machine": machine_facts(),
                   "database": database, "clients": args.clients, "seconds": args.seconds,
                   "threads": args.threads, "writes": rows, "log": log,
                   "duplicate_records": duplicates, "memory_mb": {"hwm": hwm, "rss": rss},
                   "samples": samples, "pass": ok, "server_log": server.log_path},
                  f, indent=1, ensure_ascii=False)
    with open(base + ".md", "w") as f:
        f.write(text)
    print(f"wrote {base}.json and {base}.md")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
