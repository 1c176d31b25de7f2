"""What bench/run.py and bench/writers.py share: the server, a lean HTTP client, logging in,
and what a simulated user needs to know about its clinic (read from the SQLite file, or from
PostgreSQL through bench/postgres.py).

Standard library only, so that the driver runs with any Python 3.11+ (a postgresql:// database
needs psycopg2 as well: the project's .venv has it).
"""
import os
import platform
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import postgres

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
OUT = os.path.join(BENCH, "out")  # server logs (git-ignored)
RESULTS = os.path.join(BENCH, "results")
TOKYO = ZoneInfo("Asia/Tokyo")
# The generator's logins (bench/generator.py: owner `incho`, PASSWORD); --password for others.
DEFAULT_PASSWORD = "karusaku-bench-2026"
RECORDS_PER_MONTH = {"starter": 500, "pro": 2000, "enterprise": None}  # as karusaku/models/clinic.py
MIN_RECORD_ROOM = 400  # a clinic must have room for this many more records this month
CSRF_META = re.compile(rb'<meta name="csrf-token" content="([^"]+)"')
CLK_TCK = os.sysconf("SC_CLK_TCK")


def today():
    """The clinic-local date, as the app computes it."""
    return datetime.now(TOKYO).date()


def server_python():
    """The project's venv Python for the server (the driver itself needs only the stdlib)."""
    venv = os.path.join(REPO, ".venv", "bin", "python")
    return venv if os.path.exists(venv) else sys.executable


# --- a keep-alive HTTP/1.1 client -----------------------------------------------------------

class HTTPError(Exception):
    """The connection failed or the answer could not be read (counted as an error)."""


class Response:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def header(self, name, default=None):
        for key, value in self.headers:
            if key == name:
                return value
        return default


class Connection:
    """One keep-alive connection to the server, with its own cookie jar.

    Hand-written on a socket rather than http.client: it parses only what it needs, so the
    driver spends a fraction of http.client's CPU per request and stays far from saturating its
    core (each run reports the driver's CPU use to show it).
    """

    def __init__(self, host, port, timeout=30.0):
        self.host, self.port, self.timeout = host, port, timeout
        self.sock = None
        self.buffer = b""
        self.cookies = {}
        self.host_header = f"{host}:{port}".encode()

    def close(self):
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buffer = None, b""

    def _connect(self):
        self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def request(self, method, path, form=None, headers=(), cookies=True):
        """Send one request and read the whole answer; HTTPError on a broken connection."""
        body = urlencode(form).encode() if form is not None else b""
        lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: " + self.host_header]
        if cookies and self.cookies:
            lines.append(("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
                         .encode())
        for name, value in headers:
            lines.append(f"{name}: {value}".encode())
        if form is not None:
            lines.append(b"Content-Type: application/x-www-form-urlencoded")
        if body or method == "POST":
            lines.append(b"Content-Length: %d" % len(body))
        data = b"\r\n".join(lines) + b"\r\n\r\n" + body
        reused = self.sock is not None
        try:
            if not reused:
                self._connect()
            self.sock.sendall(data)
            response = self._read(method)
        except (OSError, HTTPError) as error:
            self.close()
            if reused and method == "GET" and not isinstance(error, socket.timeout):
                # The server may have closed an idle keep-alive connection: once more, fresh.
                return self.request(method, path, form, headers, cookies)
            raise HTTPError(f"{type(error).__name__}: {error}") from None
        if cookies:
            for key, value in response.headers:
                if key == "set-cookie":
                    self._keep_cookie(value)
        return response

    def _keep_cookie(self, header):
        pair, _, attributes = header.partition(";")
        name, _, value = pair.strip().partition("=")
        attributes = attributes.lower()
        if "max-age=0" in attributes or "expires=thu, 01 jan 1970" in attributes:
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = value

    def _recv(self):
        chunk = self.sock.recv(262144)
        if not chunk:
            raise HTTPError("connection closed by the server")
        self.buffer += chunk

    def _read(self, method):
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end >= 0:
                break
            self._recv()
        head, self.buffer = self.buffer[:end], self.buffer[end + 4:]
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
            raise HTTPError(f"bad status line {lines[0][:80]!r}")
        status = int(parts[1])
        headers = []
        length, chunked, close = None, False, parts[0] == b"HTTP/1.0"
        for line in lines[1:]:
            key, _, value = line.partition(b":")
            key, value = key.strip().lower().decode("latin-1"), value.strip().decode("latin-1")
            headers.append((key, value))
            if key == "content-length":
                length = int(value)
            elif key == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif key == "connection":
                close = value.lower() == "close"
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            body = b""
        elif chunked:
            body = self._read_chunked()
        elif length is not None:
            while len(self.buffer) < length:
                self._recv()
            body, self.buffer = self.buffer[:length], self.buffer[length:]
        else:  # until the server closes
            try:
                while True:
                    self._recv()
            except HTTPError:
                pass
            body, close = self.buffer, True
        if close:
            self.close()
        return Response(status, headers, body)

    def _read_chunked(self):
        body = []
        while True:
            while b"\r\n" not in self.buffer:
                self._recv()
            size_line, self.buffer = self.buffer.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            while len(self.buffer) < size + 2:
                self._recv()
            body.append(self.buffer[:size])
            self.buffer = self.buffer[size + 2:]
            if size == 0:
                return b"".join(body)


# --- the server -------------------------------------------------------------------------------

def answers_health(port, process, timeout):
    """Wait until GET /healthz on port answers ok (True); False when the process exits first
    or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            connection = Connection("127.0.0.1", port, timeout=2)
            if connection.request("GET", "/healthz", cookies=False).body == b"ok":
                connection.close()
                return True
        except (HTTPError, OSError):
            pass
        time.sleep(0.2)
    return False


class Server:
    """`run.py` (waitress) on one database, pinned to one CPU, logging to bench/out/."""

    def __init__(self, database, port, threads, cpu="0", log_name="server", extra_env=None):
        os.makedirs(OUT, exist_ok=True)
        self.database, self.port, self.threads = database, port, threads
        self.log_path = os.path.join(OUT, f"{log_name}.log")
        env = dict(os.environ, KARUSAKU_DATABASE=database, KARUSAKU_PORT=str(port),
                   KARUSAKU_HOST="127.0.0.1", KARUSAKU_THREADS=str(threads),
                   KARUSAKU_SECRET_KEY=os.environ.get("KARUSAKU_SECRET_KEY", "karusaku-bench"),
                   PYTHONUNBUFFERED="1", **(extra_env or {}))
        self.log = open(self.log_path, "wb")
        command = [server_python(), "run.py"]
        if cpu is not None:
            command = ["taskset", "-c", str(cpu), *command]
        # taskset execs Python in place, so the child's pid is the server's.
        self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.process.pid
        self.side_pids = {}  # name -> pid of a server it depends on (PostgreSQL), for its CPU

    def wait_ready(self, timeout=120):
        if answers_health(self.port, self.process, timeout):
            return
        if self.process.poll() is not None:
            raise SystemExit(f"the server exited ({self.process.returncode}):\n{self.log_text()[-2000:]}")
        self.stop()
        raise SystemExit(f"the server did not answer /healthz within {timeout} s")

    def memory(self):
        """(VmHWM, VmRSS) of the server process in MiB."""
        values = {}
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(("VmHWM:", "VmRSS:")):
                    key, value = line.split(":")
                    values[key] = int(value.split()[0]) / 1024
        return values.get("VmHWM"), values.get("VmRSS")

    def cpu_seconds(self):
        """User + system CPU time the server has used so far."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def side_cpu_seconds(self):
        """{name: CPU seconds so far} of the servers it depends on (each with its children)."""
        return {name: tree_cpu_seconds(pid) for name, pid in self.side_pids.items()}

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()

    def log_text(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


def core_times(cpu):
    """Seconds CPU `cpu` has spent since boot: {"tasks": user+nice+system, "irq": irq+softirq
    (on loopback, mostly the network work of the requests), "steal": taken by the hypervisor},
    from /proc/stat; None when unknown."""
    try:
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith(f"cpu{int(cpu)} "):
                    t = [int(v) for v in line.split()[1:9]]
                    return {"tasks": (t[0] + t[1] + t[2]) / CLK_TCK,
                            "irq": (t[5] + t[6]) / CLK_TCK, "steal": t[7] / CLK_TCK}
    except (OSError, ValueError, TypeError):
        pass
    return None


def machine_times():
    """Seconds all CPUs together have spent since boot, as core_times() for one."""
    with open("/proc/stat") as f:
        t = [int(v) for v in f.readline().split()[1:9]]
    return {"tasks": (t[0] + t[1] + t[2]) / CLK_TCK, "irq": (t[5] + t[6]) / CLK_TCK,
            "steal": t[7] / CLK_TCK}


def _process_cpu(pid, children=True):
    """User + system CPU seconds of a process (with children: of its reaped children too)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    used = int(fields[11]) + int(fields[12])
    if children:
        used += int(fields[13]) + int(fields[14])
    return used / CLK_TCK


def tree_cpu_seconds(pid):
    """CPU seconds of a server and its worker processes (PostgreSQL's backends, nginx's
    workers): its own, its live children's, and what its exited children used (added to
    its own count when it reaped them). None when the process is gone."""
    try:
        total = _process_cpu(pid)
    except OSError:
        return None
    for child in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{child}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    total += _process_cpu(int(child))
        except (OSError, ValueError, IndexError):
            continue
    return total


def log_counts(text):
    """What the server's log says about failures."""
    return {
        "database_is_locked": text.count("database is locked"),
        "tracebacks": text.count("Traceback (most recent call last)"),
        "unhandled_errors": text.count("unhandled error"),
        # run.py logs one per minute and says how many more it held back
        "queue_depth_warnings": text.count("Task queue depth") + sum(
            int(n) for n in re.findall(r"\((\d+) more such warnings", text)),
    }


def free_port(preferred):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]


# --- what the simulated users know of their clinics ------------------------------------------

@dataclass
class ClinicInfo:
    id: int
    code: str
    username: str
    therapists: list
    patients: list  # (id, chart_number, name, name_kana, phone)
    closed_weekdays: str
    opens_at: str
    closes_at: str
    first_free_day: date  # after every appointment of the clinic, a year ahead at least
    searches: list = field(default_factory=list)


def _hiragana(text):
    return "".join(chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c for c in text)


def search_terms(patients, rng, count=40):
    """What staff type into the patient search: kana in hiragana or katakana, a family name,
    the last digits of a phone, a chart number, and now and then nothing (the whole list)."""
    terms = []
    for _ in range(count):
        _, chart, name, kana, phone = rng.choice(patients)
        family_kana = kana.replace("\u3000", " ").split(" ")[0]
        kind = rng.random()
        if kind < 0.15:
            terms.append("")
        elif kind < 0.45:
            terms.append(_hiragana(family_kana[: rng.randint(2, 3)]))
        elif kind < 0.65:
            terms.append(family_kana)
        elif kind < 0.80:
            terms.append(name.replace("\u3000", " ").split(" ")[0])
        elif kind < 0.93:
            digits = "".join(c for c in phone if c.isdigit())
            terms.append(digits[-4:] if len(digits) >= 4 else str(chart))
        else:
            terms.append(str(chart))
    return terms


def connect_readonly(database):
    """The database, read-only: a sqlite3 connection, or postgres.Reader for a URL."""
    if postgres.is_url(database):
        return postgres.Reader(database)
    if "://" in database:
        raise SystemExit(f"the benchmark reads a SQLite file or a postgresql:// URL, not {database!r}")
    if not os.path.exists(database):
        raise SystemExit(f"no database at {database}")
    return sqlite3.connect(f"file:{os.path.abspath(database)}?mode=ro", uri=True)


def discover(database, wanted, username=None, seed=1, min_record_room=MIN_RECORD_ROOM):
    """Up to `wanted` active clinics, spread over all of them, each with a login, an active
    therapist, patients, and room in its plan for `min_record_room` more records this month
    (the benchmark saves records; a clinic at its plan's limit would answer 403)."""
    rng = random.Random(seed)
    db = connect_readonly(database)
    rows = db.execute("SELECT id, code, closed_weekdays, opens_at, closes_at, subscription_plan "
                      "FROM clinics WHERE status = 'active' ORDER BY code").fetchall()
    if not rows:
        raise SystemExit(f"{database} has no active clinic")
    step = max(len(rows) / wanted, 1)
    spread = [rows[int(i * step)] for i in range(min(wanted, len(rows)))]
    candidates = spread + [row for row in rows if row not in spread]
    month_start = today().replace(day=1).isoformat()
    clinics, skipped = [], Counter()
    horizon = today() + timedelta(days=365)
    for clinic_id, code, closed, opens, closes, plan in candidates:
        if len(clinics) >= wanted:
            break
        limit = RECORDS_PER_MONTH.get(plan)
        if limit is not None:
            used = db.execute("SELECT count(*) FROM medical_records WHERE clinic_id = ? "
                              "AND created_at >= ?", (clinic_id, month_start)).fetchone()[0]
            if limit - used < min_record_room:
                skipped["no room for records this month"] += 1
                continue
        if username:
            user = db.execute("SELECT username FROM users WHERE clinic_id = ? AND username = ?",
                              (clinic_id, username)).fetchone()
        else:
            user = db.execute("SELECT username FROM users WHERE clinic_id = ? AND role = 'owner' "
                              "ORDER BY id LIMIT 1", (clinic_id,)).fetchone()
        therapists = [r[0] for r in db.execute(
            "SELECT id FROM therapists WHERE clinic_id = ? AND status = 'active' ORDER BY id",
            (clinic_id,))]
        patients = db.execute("SELECT id, chart_number, name, name_kana, phone FROM patients "
                              "WHERE clinic_id = ? ORDER BY id", (clinic_id,)).fetchall()
        if user is None or not therapists or not patients:
            skipped["no login, therapist or patient"] += 1
            continue
        last = db.execute("SELECT max(appointment_date) FROM appointments WHERE clinic_id = ?",
                          (clinic_id,)).fetchone()[0]
        last_day = date.fromisoformat(str(last)[:10]) if last else today()
        info = ClinicInfo(clinic_id, code, user[0], therapists, patients, closed or "",
                          opens or "09:00", closes or "20:00",
                          max(horizon, last_day + timedelta(days=1)))
        info.searches = search_terms(patients, rng)
        clinics.append(info)
    db.close()
    if not clinics:
        raise SystemExit(f"{database}: no clinic with a login ({username or 'an owner'}), "
                         f"an active therapist, patients and room for records ({dict(skipped)})")
    if skipped:
        print(f"   clinics passed over: {dict(skipped)}", flush=True)
    return clinics


def database_facts(database):
    """Sizes that say what a database is: rows, months of records, file size."""
    db = connect_readonly(database)
    if postgres.is_url(database):  # "file_mb": the database's size (pg_database_size)
        facts = {"path": postgres.safe(database), "file_mb": round(db.size_bytes() / 2**20, 1),
                 "server": "PostgreSQL " + db.execute("SHOW server_version").fetchone()[0].split()[0]}
    else:
        facts = {"path": database, "file_mb": round(os.path.getsize(database) / 2**20, 1)}
    for table in ("clinics", "patients", "therapists", "appointments", "medical_records"):
        facts[table] = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    first, last = db.execute("SELECT min(visit_date), max(visit_date) FROM medical_records"
                             ).fetchone()
    if first and last:
        days = (date.fromisoformat(str(last)[:10]) - date.fromisoformat(str(first)[:10])).days
        facts["record_months"] = round(days / 30.44)
    months = facts.get("record_months", "?")
    facts["label"] = (f"{months} month{'' if months == 1 else 's'}, "
                      f"{facts['medical_records']:,} records")
    db.close()
    return facts


def machine_facts():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f
                          if line.startswith("model name")), "")
    except OSError:
        pass
    memory = ""
    try:
        with open("/proc/meminfo") as f:
            memory = f"{int(f.readline().split()[1]) // 1024} MiB"
    except OSError:
        pass
    return {"cpu": model, "cpus": os.cpu_count(), "memory": memory,
            "kernel": platform.release(), "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version}


# --- a logged-in user ----------------------------------------------------------------------

class LoginFailed(Exception):
    pass


def log_in(connection, clinic_code, username, password):
    """Log in through the form (CSRF token from the page); the token for later POSTs."""
    page = connection.request("GET", "/login")
    token = CSRF_META.search(page.body)
    if page.status != 200 or not token:
        raise LoginFailed(f"GET /login answered {page.status}")
    answer = connection.request("POST", "/login", form={
        "clinic_code": clinic_code, "username": username, "password": password,
        "csrf_token": token.group(1).decode()})
    if answer.status not in (302, 303):
        raise LoginFailed(f"{clinic_code}/{username}: POST /login answered {answer.status} "
                          "(wrong --password or --username?)")
    page = connection.request("GET", "/account/password")  # the session's own CSRF token
    token = CSRF_META.search(page.body)
    if page.status != 200 or not token:
        raise LoginFailed(f"{clinic_code}/{username}: no page after logging in ({page.status})")
    return token.group(1).decode()


class SlotCursor:
    """A user's own free slots: its own therapist, its own stretch of far-future days, every
    open day, every 30 minutes inside the clinic's hours, so that bookings rarely collide."""

    def __init__(self, clinic, therapist_id, first_day, minutes=30):
        self.clinic, self.therapist_id, self.minutes = clinic, therapist_id, minutes
        self.day, self.slot = first_day, None
        opens = datetime.strptime(clinic.opens_at, "%H:%M")
        closes = datetime.strptime(clinic.closes_at, "%H:%M")
        self.times = []
        moment = opens
        while moment + timedelta(minutes=minutes) <= closes:
            self.times.append(moment.strftime("%H:%M"))
            moment += timedelta(minutes=minutes)
        self.index = 0
        self._skip_closed()

    def _skip_closed(self):
        while str(self.day.weekday()) in self.clinic.closed_weekdays:
            self.day += timedelta(days=1)

    def next(self):
        if self.index >= len(self.times):
            self.index = 0
            self.day += timedelta(days=1)
            self._skip_closed()
        start = f"{self.day.isoformat()}T{self.times[self.index]}"
        self.index += 1
        return start


def percentile(sorted_values, fraction):
    if not sorted_values:
        return None
    index = min(int(round(fraction * (len(sorted_values) - 1))), len(sorted_values) - 1)
    return sorted_values[index]
