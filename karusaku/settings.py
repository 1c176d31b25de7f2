"""Settings from the environment, with defaults that work on a fresh checkout."""
import os
import secrets


def _secret_key(instance_path):
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


def from_environment(instance_path):
    """The app's configuration mapping; create_app(config) may override any key."""
    return {
        "DATABASE": os.environ.get(
            "KARUSAKU_DATABASE", os.path.join(instance_path, "medical_records.db")
        ),
        "SECRET_KEY": _secret_key(instance_path),
        "HOST": os.environ.get("KARUSAKU_HOST", "127.0.0.1"),
        "PORT": int(os.environ.get("KARUSAKU_PORT", "8000")),
        "THREADS": int(os.environ.get("KARUSAKU_THREADS", "8")),
        # Number of reverse proxies in front whose X-Forwarded-* headers are trusted.
        "TRUSTED_PROXIES": int(os.environ.get("KARUSAKU_TRUSTED_PROXIES", "0")),
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
