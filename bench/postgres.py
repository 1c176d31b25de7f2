"""The benchmark on PostgreSQL: `--database postgresql://…` instead of a SQLite file.

What the driver reads before a run (the clinics, their logins, therapists and patients, the
database's sizes) it reads through psycopg2 as the operator's role (`karusaku_operator`, which
sees every clinic; the app's role sees one clinic at most, docs/scaling.md): the URL given is
the app's, and the reader logs in to the same database as `karusaku_operator` with the password
`KARUSAKU_BENCH_OPERATOR_PASSWORD` (default: bench/postgres_server.sh's). The session is
read-only. psycopg2 comes from the project's .venv, so run
the benchmark with `.venv/bin/python` for a PostgreSQL URL (a SQLite file needs only the
standard library, as before).

It also finds the PostgreSQL server's process (the postmaster listening on the URL's loopback
port), so that each phase reports the CPU time PostgreSQL used beside the app's.
"""
import os
import re
from urllib.parse import urlsplit

URL = re.compile(r"^postgres(ql)?://", re.IGNORECASE)


def is_url(database):
    return bool(URL.match(database))


def safe(url):
    """The URL without its password, for reports and file names."""
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)


def name(url):
    """The database's name: the last part of the URL's path."""
    return urlsplit(url).path.rsplit("/", 1)[-1] or "postgres"


def operator_url(url):
    """The app's URL with the operator's role and password instead."""
    parts = urlsplit(url)
    password = os.environ.get("KARUSAKU_BENCH_OPERATOR_PASSWORD", "karusaku")
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=f"karusaku_operator:{password}@{host}").geturl()


class Reader:
    """Just enough of a sqlite3 connection for common.discover() and database_facts():
    execute(sql, params) with `?` placeholders, returning a cursor."""

    def __init__(self, url):
        try:
            import psycopg2
        except ImportError:
            raise SystemExit("a postgresql:// database needs psycopg2: run the benchmark with "
                             ".venv/bin/python") from None
        url = operator_url(URL.sub("postgresql://", url, count=1))
        try:
            self.connection = psycopg2.connect(url, connect_timeout=10, options=(
                "-c default_transaction_read_only=on -c application_name=karusaku-bench"))
        except psycopg2.Error as error:
            raise SystemExit(f"cannot open {safe(url)}: {str(error).strip()}") from None
        self.connection.autocommit = True

    def execute(self, sql, params=()):
        cursor = self.connection.cursor()
        cursor.execute(sql.replace("?", "%s"), params)
        return cursor

    def size_bytes(self):
        return self.execute("SELECT pg_database_size(current_database())").fetchone()[0]

    def close(self):
        self.connection.close()


def _listening_inodes(port):
    """The socket inodes listening on the TCP port (IPv4 and IPv6), from /proc/net."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    local, state, inode = fields[1], fields[3], fields[9]
                    if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                        inodes.add(inode)
        except OSError:
            pass
    return inodes


def server_pid(url):
    """The pid of the PostgreSQL server (postmaster) behind a loopback URL, or None (another
    host, a Unix socket, or /proc/<pid>/fd not readable: then PostgreSQL's CPU is not
    reported)."""
    parts = urlsplit(URL.sub("postgresql://", url, count=1))
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        return None
    wanted = {f"socket:[{inode}]" for inode in _listening_inodes(parts.port or 5432)}
    if not wanted:
        return None
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                    return int(pid)
        except OSError:
            continue
    return None
