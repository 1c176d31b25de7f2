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
        # PostgreSQL: the roles that platform work runs as (docs/scaling.md, "The roles").
        "OPERATOR_DATABASE": os.environ.get("KARUSAKU_OPERATOR_DATABASE", ""),
        "OWNER_DATABASE": os.environ.get("KARUSAKU_OWNER_DATABASE", ""),
        "SECRET_KEY": _secret_key(instance_path),
        "HOST": os.environ.get("KARUSAKU_HOST", "127.0.0.1"),
        "PORT": int(os.environ.get("KARUSAKU_PORT", "8000")),
        "THREADS": int(os.environ.get("KARUSAKU_THREADS", "8")),
        # Number of reverse proxies in front whose X-Forwarded-* headers are trusted.
        "TRUSTED_PROXIES": int(os.environ.get("KARUSAKU_TRUSTED_PROXIES", "0")),
        "TIMEZONE": "Asia/Tokyo",
        "SESSION_IDLE_MINUTES": 30,
        "LOCKOUT_FAILURES": 5,
        "LOCKOUT_MINUTES": 15,
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
