"""Device cookies (OWASP: "Slow down online guessing attacks with device cookies").

A browser that has logged in as an account keeps a signed cookie entry naming it (clinic and
user, or platform admin: `account.device_key`), with a random nonce and the time it was issued.
One cookie holds up to DEVICE_COOKIE_ACCOUNTS entries, so a shared tablet is known for each of
its staff; an entry is good for DEVICE_COOKIE_DAYS and renewed (new nonce) at each log-in.
accounts.authenticate_* trust a browser whose entry for the account is valid and not locked
out: the account's lockout and the address's budget do not hold it, its own failures do.
"""
import secrets
import time

from flask import current_app, g, request
from itsdangerous import BadSignature, URLSafeSerializer

SALT = "karusaku device cookie"


def _serializer():
    return URLSafeSerializer(current_app.secret_key, salt=SALT)


def _lifetime():
    return current_app.config["DEVICE_COOKIE_DAYS"] * 86400


def _entries():
    """{device_key: (nonce, issued)} of the request's cookie: signed, well-formed, unexpired."""
    raw = request.cookies.get(current_app.config["DEVICE_COOKIE_NAME"])
    if not raw:
        return {}
    try:
        items = _serializer().loads(raw)
    except BadSignature:
        return {}
    oldest = time.time() - _lifetime()
    entries = {}
    for item in items if isinstance(items, list) else ():
        if (isinstance(item, list) and len(item) == 3 and isinstance(item[0], str)
                and isinstance(item[1], str) and isinstance(item[2], int) and item[2] > oldest):
            entries[item[0]] = (item[1], item[2])
    return entries


def presented():
    """{device_key: nonce} of the accounts this browser has a valid device cookie for."""
    return {key: nonce for key, (nonce, _) in _entries().items()}


def remember(account):
    """Give this browser a fresh entry for account; the cookie is set on the response."""
    entries = _entries()
    entries.pop(account.device_key, None)
    entries[account.device_key] = (secrets.token_urlsafe(16), int(time.time()))
    newest = sorted(entries.items(), key=lambda item: item[1][1], reverse=True)
    keep = newest[:current_app.config["DEVICE_COOKIE_ACCOUNTS"]]
    g.device_cookie = _serializer().dumps([[key, nonce, issued] for key, (nonce, issued) in keep])


def _set_cookie(response):
    value = g.pop("device_cookie", None)
    if value is not None:
        config = current_app.config
        response.set_cookie(config["DEVICE_COOKIE_NAME"], value, max_age=_lifetime(),
                            httponly=True, samesite="Lax",
                            secure=bool(config["SESSION_COOKIE_SECURE"] or request.is_secure))
    return response


def init_app(app):
    app.after_request(_set_cookie)
