"""Serve Karusaku with waitress: `python run.py` (host, port and threads from the environment).

waitress is tuned (LIMITS) so that idle and slow clients cannot lock visitors out and no
request can take the process past its memory budget; what waitress refuses before the app sees
it (a body or headers too large, a malformed request) gets a short Japanese page.
"""
import ctypes
import logging
import resource
import sys
import time

from waitress.channel import HTTPChannel
from waitress.server import create_server
from waitress.task import ErrorTask

from karusaku import create_app
from karusaku.db import migrations
from karusaku.db.connection import database
from karusaku.settings import StartupRefused
from karusaku.web import errors

# Measured in tests/test_run.py. waitress's defaults stop accepting at 100 connections and keep
# an idle one 120 s: 100 idle sockets locked every visitor out for two minutes.
LIMITS = {
    "connection_limit": 1000,
    "asyncore_use_poll": True,  # select() cannot watch a file descriptor above 1023
    "channel_timeout": 30,  # seconds a connection may stay silent (a browser reconnects)
    "cleanup_interval": 10,  # how often silent connections are looked for
    # Per connection, at most this much in memory; a bigger request or answer goes to a
    # temporary file. 1000 connections × (16 + 32 + 64) KiB stays inside the 120 MB budget.
    "max_request_header_size": 16 * 1024,  # a browser sends 1-4 KB (default 256 KB: 431 above)
    "inbuf_overflow": 32 * 1024,  # default 512 KB
    "outbuf_overflow": 64 * 1024,  # default 1 MB
}  # backlog (1024) and recv_bytes (8 KiB) keep waitress's defaults; send_bytes is deprecated.
FILES_PER_CONNECTION = 3  # its socket, and a temporary file each for a large request and answer
FILES_BESIDE = 64  # the listening socket, logs, modules; plus a SQLite connection per thread


def return_big_blocks_to_the_system():
    """Each log-in's Argon2 check allocates 12 MiB; glibc would keep such freed blocks in
    per-thread arenas (a waitress thread each), and the process would stay ~150 MB bigger
    after a morning of log-ins. A fixed mmap threshold hands them back when freed."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to tune
        return
    libc.mallopt(-3, 256 * 1024)  # M_MMAP_THRESHOLD: fixed, no longer raised by big frees
    libc.mallopt(-8, 2)  # M_ARENA_MAX: two arenas for all threads


class OncePerMinute(logging.Filter):
    """Let one record through per minute, with how many were held back. Under a burst waitress
    warns "Task queue depth is N" for each queued request: a line per request, costing CPU
    exactly when there is none to spare."""

    def __init__(self, seconds=60):
        super().__init__()
        self.seconds, self.next_at, self.held = seconds, 0.0, 0

    def filter(self, record):
        moment = time.monotonic()
        if moment < self.next_at:
            self.held += 1
            return False
        if self.held:
            record.msg = f"{record.msg} ({self.held} more such warnings in the last minute)"
        self.next_at, self.held = moment + self.seconds, 0
        return True


class JapaneseErrorTask(ErrorTask):
    """waitress's own answer to a request it refused (413, 431, 400), as a Japanese page."""

    def execute(self):
        error = self.request.error
        body = errors.standalone_page(error.code).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "text/html; charset=utf-8"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


def connection_limit(threads):
    """LIMITS' connection limit, after raising the soft limit of open files to the hard one
    when it is too low for it (Debian's soft default is 1024); lower if the hard one is."""
    wanted = LIMITS["connection_limit"]
    needed = wanted * FILES_PER_CONNECTION + FILES_BESIDE + 3 * threads
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        soft = needed if hard == resource.RLIM_INFINITY else hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return wanted
    allowed = max(10, (soft - FILES_BESIDE - 3 * threads) // FILES_PER_CONNECTION)
    logging.getLogger("karusaku").warning(
        "the open-file limit (%d) allows %d connections, not %d", soft, allowed, wanted)
    return allowed


def make_server(app):
    """A waitress server for app on its HOST and PORT, with LIMITS; binds the port."""
    HTTPChannel.error_task_class = JapaneseErrorTask  # waitress has no setting for it
    threads = app.config["THREADS"]
    return create_server(
        app, host=app.config["HOST"], port=app.config["PORT"], threads=threads,
        ident="karusaku", **{**LIMITS, "connection_limit": connection_limit(threads)},
        # waitress refuses a body of this many bytes or more, before reading it
        max_request_body_size=app.config["MAX_CONTENT_LENGTH"] + 1)


def refuse(message):
    """Exit with one line, closing the database first (so SQLite removes its -wal and -shm)."""
    if database.obj is not None:
        database.close()
    sys.exit(f"Karusaku cannot start: {message}")


def main():
    return_big_blocks_to_the_system()
    logging.getLogger("waitress.queue").addFilter(OncePerMinute())
    try:
        app = create_app()
        with app.app_context():
            migrations.require_schema()
    except StartupRefused as error:
        refuse(error.message)
    host, port = app.config["HOST"], app.config["PORT"]
    try:
        server = make_server(app)
    except (OSError, ValueError) as error:  # ValueError: waitress found no such host
        refuse(f"cannot listen on {host}:{port}: {getattr(error, 'strerror', None) or error}")
    print(f"Karusaku: http://{host}:{port}/", flush=True)
    server.run()


if __name__ == "__main__":
    main()
