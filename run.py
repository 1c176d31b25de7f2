"""Serve Karusaku with waitress: `python run.py` (host, port and threads from the environment)."""
import ctypes
import logging
import sys
import time

from waitress import serve

from karusaku import create_app, migrations
from karusaku.db import StartupRefused


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


def main():
    return_big_blocks_to_the_system()
    logging.getLogger("waitress.queue").addFilter(OncePerMinute())
    try:
        app = create_app()
    except StartupRefused as error:
        sys.exit(f"Karusaku cannot start: {error.message}")
    with app.app_context():
        if migrations.current_version() < migrations.available()[-1][0]:
            sys.exit("The database schema is not current: run `flask --app karusaku init-db` first.")
    host, port = app.config["HOST"], app.config["PORT"]
    print(f"Karusaku: http://{host}:{port}/", flush=True)
    serve(app, host=host, port=port, threads=app.config["THREADS"], ident="karusaku")


if __name__ == "__main__":
    main()
