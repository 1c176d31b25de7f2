"""Serve Karusaku with waitress: `python run.py` (host, port and threads from the environment)."""
import sys

from waitress import serve

from karusaku import create_app, migrations
from karusaku.db import StartupRefused


def main():
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
