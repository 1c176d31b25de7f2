"""Settings from the environment, with defaults that work on a fresh checkout."""
import os
import re
import secrets

import click

# The largest legitimate form is a visit record: five notes of up to 10,000 characters, about
# 450 KB once URL-encoded (9 bytes a kanji). Imports are a command, never an upload.
MAX_BODY = 1024 * 1024


class StartupRefused(click.ClickException):
    """A setting or the database makes it unsafe or impossible to start.

    A ClickException, so that a `flask --app karusaku` command prints one line, no traceback.
    """


def secret_key(instance_path):
    """KARUSAKU_SECRET_KEY, or a key made once and kept in instance/secret_key."""
    key = os.environ.get("KARUSAKU_SECRET_KEY")
    if key:
        return key
    path = os.path.join(instance_path, "secret_key")
    if not os.path.exists(path):
        os.makedirs(instance_path, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    with open(path) as f:
        return f.read().strip()


def whole_number(name, default, minimum, maximum):
    """The environment variable `name` as a whole number from minimum to maximum (unset or
    empty: default); anything else (`--5`, `²`, `8.5`, `-1`) is refused naming the variable."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if re.fullmatch(r"[0-9]{1,6}", text) and minimum <= int(text) <= maximum:
        return int(text)
    shown = text if len(text) <= 20 else text[:20] + "…"
    raise StartupRefused(f"{name} must be a whole number from {minimum} to {maximum}, "
                         f"not {shown!r}")


def from_environment(instance_path):
    """The app's configuration mapping; create_app(config) may override any key. The secret
    key is not in it: create_app adds it once the database has passed its checks."""
    return {
        "DATABASE": os.environ.get(
            "KARUSAKU_DATABASE", os.path.join(instance_path, "medical_records.db")
        ),
        # PostgreSQL: the roles that platform work runs as (docs/scaling.md, "The roles").
        "OPERATOR_DATABASE": os.environ.get("KARUSAKU_OPERATOR_DATABASE", ""),
        "OWNER_DATABASE": os.environ.get("KARUSAKU_OWNER_DATABASE", ""),
        "HOST": os.environ.get("KARUSAKU_HOST", "127.0.0.1"),
        "PORT": whole_number("KARUSAKU_PORT", 8000, 1, 65535),
        "THREADS": whole_number("KARUSAKU_THREADS", 8, 1, 100),
        # Number of reverse proxies in front whose X-Forwarded-* headers are trusted.
        "TRUSTED_PROXIES": whole_number("KARUSAKU_TRUSTED_PROXIES", 0, 0, 10),
        # Bigger requests get 413 (run.py's waitress refuses them before reading the body).
        "MAX_CONTENT_LENGTH": MAX_BODY,
        "MAX_FORM_PARTS": 1000,  # fields of a form (security.py); the record form has 60
        "TIMEZONE": "Asia/Tokyo",
        "SESSION_IDLE_MINUTES": 30,
        # However active, a session ends after a working day; then the password again.
        "SESSION_MAX_HOURS": 12,
        # Per account, for browsers without its device cookie; per device cookie, for those with.
        "LOCKOUT_FAILURES": 5,
        "LOCKOUT_MINUTES": 15,
        # A browser that logged in as a user keeps a signed device cookie for a year (renewed at
        # each log-in), for up to 20 users of one shared tablet.
        "DEVICE_COOKIE_NAME": "karusaku_device",
        "DEVICE_COOKIE_DAYS": 365,
        "DEVICE_COOKIE_ACCOUNTS": 20,
        # Failed log-ins per client address and window (a window's minutes must divide a day);
        # past them 429 before any hash. A clinic behind one NAT address mistypes a few times a
        # day; 20 per 15 minutes leaves staff room for that, and holds a guesser from one address
        # to 1,920 guesses a day across all accounts (a device cookie's holder is not counted).
        "LOGIN_BUDGET_FAILURES": 20,
        "LOGIN_BUDGET_MINUTES": 15,
        # Failed log-ins per address and hour that get an audit row each; the rest are counted in
        # one platform row for the address and hour. Half a budget window: enough to see who
        # was tried, while a flood adds at most 11 rows an hour per address.
        "AUDIT_FAILURES_PER_HOUR": 10,
        "PASSWORD_MIN_LENGTH": 12,
        # One of OWASP's equivalent Argon2id minimums (12 MiB, t=3, p=1): light on a 1 GB VPS.
        "ARGON2": {"time_cost": 3, "memory_cost": 12288, "parallelism": 1},
        "SESSION_COOKIE_NAME": "karusaku_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": False,  # also Secure whenever the request came over HTTPS
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the login session
        "WTF_CSRF_SSL_STRICT": False,  # SameSite=Lax and the token already stop cross-site posts
        "SQLITE_PRAGMAS": {},
        "PER_PAGE": 50,
    }
