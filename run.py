"""Serve Karusaku with waitress: `python run.py` (host, port and threads from the environment)."""
import ctypes
import sys

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


def main():
    return_big_blocks_to_the_system()
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
