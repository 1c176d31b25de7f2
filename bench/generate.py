"""Make a benchmark database: N generated clinics and their history (bench/generator.py).

    .venv/bin/python bench/generate.py DATABASE --clinics N [--patients P] [--months M]
        [--records-per-month R] [--seed S]

DATABASE is a SQLite file: made, or brought to the newest schema, as `flask --app karusaku
init-db` does, then filled; one that already has clinics is refused. The app's other settings
come from the environment as for `flask` (KARUSAKU_SECRET_KEY, …). Progress goes to stderr,
the summary and the logins to stdout; a failure prints one line and exits 1.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # karusaku and bench

from peewee import PeeweeException

from bench import generator
from karusaku import create_app
from karusaku.db import migrations
from karusaku.passwords import hash_password
from karusaku.settings import StartupRefused


def between(low, high):
    """An argparse type: a whole number from low to high."""

    def number(text):
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not in the range {low} to {high}")
        return value

    number.__name__ = "whole number"
    return number


def parse(argv):
    parser = argparse.ArgumentParser(description="Fill a new SQLite database with generated "
                                                 "clinics, patients, bookings and records.")
    parser.add_argument("database", metavar="DATABASE", help="the SQLite file to make and fill")
    parser.add_argument("--clinics", type=between(1, 9999), required=True,
                        help="how many clinics (c001, c002, …)")
    parser.add_argument("--patients", type=between(1, 100000), default=generator.DEFAULT_PATIENTS,
                        help="patients per clinic (default: %(default)s)")
    parser.add_argument("--months", type=between(1, 120), default=generator.DEFAULT_MONTHS,
                        help="months of history ending today (default: %(default)s)")
    parser.add_argument("--records-per-month", type=between(0, 100000),
                        default=generator.DEFAULT_RECORDS_PER_MONTH,
                        help="visit records a month in the average clinic (default: %(default)s)")
    parser.add_argument("--seed", type=int, help="random seed, for the same data again")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse(argv)
    try:
        app = create_app({"DATABASE": args.database})
        with app.app_context():
            path = generator.database_path()
            migrations.upgrade()
            password_hash = hash_password(generator.PASSWORD)
        result = generator.generate(path, args.clinics, patients=args.patients, months=args.months,
                                    records_per_month=args.records_per_month, seed=args.seed,
                                    password_hash=password_hash)
    except StartupRefused as error:
        print(f"Error: {error.message}", file=sys.stderr)
        return 1
    except (ValueError, PeeweeException, OSError) as error:  # GeneratorError is a ValueError
        print(f"Error: {error}", file=sys.stderr)
        return 1
    for line in result.summary_lines():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
