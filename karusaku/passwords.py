"""Password rules and hashing (Argon2id from argon2-cffi).

Each hash or check takes ARGON2's memory for a moment (12 MiB); at most HASHES_AT_ONCE run at
the same time, so that thirty staff logging in together cannot push a 1 GB server into swap
(the allocator keeps what it once took).
"""
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

MAX_LENGTH = 1024
HASHES_AT_ONCE = 2
_hashing = threading.BoundedSemaphore(HASHES_AT_ONCE)


def _hasher():
    return PasswordHasher(**current_app.config["ARGON2"])


def password_problem(password):
    """A Japanese message saying what is wrong with a new password, or None."""
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    if len(password or "") < minimum:
        return f"パスワードは{minimum}文字以上にしてください"
    if len(password) > MAX_LENGTH:
        return f"パスワードは{MAX_LENGTH}文字以内にしてください"
    return None


def hash_password(password):
    with _hashing:
        return _hasher().hash(password)


def verify_password(stored_hash, password):
    """True when password matches; never raises for a bad hash or input."""
    try:
        with _hashing:
            return _hasher().verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def burn_time(password):
    """Spend the time of one verification, so an unknown user answers as slowly as a known one."""
    verify_password(_dummy_hash(), password)


def _dummy_hash():
    config = current_app.config
    cached = config.get("_DUMMY_PASSWORD_HASH")
    if cached is None:
        cached = config["_DUMMY_PASSWORD_HASH"] = hash_password("not a real password, ever")
    return cached
