"""Server-side login sessions behind Flask-Login.

The signed cookie carries only a random token; the server keeps its hash in login_sessions.
Logging out deletes the row, so a copied cookie stops working. A session idle for longer than
SESSION_IDLE_MINUTES ends, and any session SESSION_MAX_HOURS after its log-in. A log-in also
gives the browser its device cookie for the account (devices.py). The current clinic for
tenant scoping is set here, from the user.
"""
import hashlib
import secrets
import time
from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app, g, redirect, request, session, url_for
from flask_login import LoginManager, current_user, login_user, logout_user

from ..clock import now
from ..db.tenancy import clinic_context, reset_current_clinic, set_current_clinic
from ..models import LoginSession, PlatformAdmin, User
from . import devices, htmx

login_manager = LoginManager()
login_manager.session_protection = None  # the server-side token is the protection
login_manager.login_view = "auth.login"

TOUCH_EVERY = timedelta(seconds=60)  # how stale last_seen_at may get before it is rewritten
PENDING = "pending_login"  # the session key of a half-done log-in (password right, code to come)
PENDING_SECONDS = 300


def _token_hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


def client_ip():
    return request.remote_addr or ""


def start(account):
    """Log account in on this device: a fresh session cookie with a new server token."""
    _end_server_session()  # a log-in on top of another ends the one before
    token = secrets.token_urlsafe(32)
    LoginSession.create(
        token_hash=_token_hash(token),
        user=None if account.is_platform_admin else account.id,
        admin=account.id if account.is_platform_admin else None,
        clinic_id=account.clinic_id,
        last_seen_at=now(),
        ip=client_ip()[:64],
        user_agent=(request.user_agent.string or "")[:200],
    )
    session.clear()  # no data from before the login survives it
    account.session_token = token
    login_user(account)
    devices.remember(account)


def hold_pending(account, next_url=""):
    """The password was right and a second factor is to come. This browser's signed cookie keeps
    only who, until when (PENDING_SECONDS) and where to go next: no login session exists, and
    no page but the second step reads it."""
    end()
    session[PENDING] = {"admin": account.is_platform_admin, "id": account.id,
                        "clinic": account.clinic_id, "until": int(time.time()) + PENDING_SECONDS,
                        "next": next_url}


def pending_account(admin=False):
    """The account of this browser's half-done log-in (a staff user, or with admin=True the
    operator), when it is recent and the account may still log in; else None. A staff user is
    loaded in its clinic's context, which the caller sets again to change anything."""
    held = session.get(PENDING)
    if not isinstance(held, dict) or held.get("admin") is not admin:
        return None
    if held.get("until", 0) < time.time():
        session.pop(PENDING, None)
        return None
    if admin:
        account = PlatformAdmin.with_id(held["id"])
        return account if account is not None and account.is_active else None
    with clinic_context(held["clinic"]):
        user = User.with_clinic(held["id"])
    if user is None or not user.is_active or not user.clinic.is_active:
        return None
    return user


def pending_next():
    return (session.get(PENDING) or {}).get("next", "")


def end():
    """Log out this device; the cookie's token no longer opens anything."""
    _end_server_session()
    logout_user()
    session.clear()


def _end_server_session():
    token = getattr(current_user, "session_token", None)
    if token:
        LoginSession.delete().where(LoginSession.token_hash == _token_hash(token)).execute()


@login_manager.user_loader
def load(token):
    """The account behind a session token, or None when it ended, idled out, outlived its
    lifetime or was disabled."""
    row = LoginSession.by_token_hash(_token_hash(token))
    if row is None:
        return None
    config = current_app.config
    moment = now()
    if (row.last_seen_at < moment - timedelta(minutes=config["SESSION_IDLE_MINUTES"])
            or row.created_at < moment - timedelta(hours=config["SESSION_MAX_HOURS"])):
        row.delete_instance()
        return None
    account = _account(row)
    if account is None:
        return None
    if row.last_seen_at < moment - TOUCH_EVERY:
        LoginSession.update(last_seen_at=moment).where(LoginSession.id == row.id).execute()
    account.session_token = token
    return account


def _account(row):
    if row.admin_id is not None:
        admin = PlatformAdmin.with_id(row.admin_id)
        return admin if admin is not None and admin.is_active else None
    with clinic_context(row.clinic_id):
        user = User.with_clinic(row.user_id)
    if user is None or not user.is_active or not user.clinic.is_active:
        return None
    return user


@login_manager.unauthorized_handler
def unauthorized():
    """A page request goes to the login page; an htmx request is told to go there itself."""
    target = url_for("auth.login", next=request.full_path.rstrip("?"))
    if htmx.is_htmx():
        return htmx.redirect(target, status=401)
    return redirect(target)


def safe_next(target, default):
    """target when it is a path inside this app, else default (no //host, no /\\host)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(c in target for c in "\\\r\n\t"):
        return default
    return target


def _scope_request_to_clinic():
    clinic_id = getattr(current_user, "clinic_id", None)
    if current_user.is_authenticated and clinic_id is not None:
        g.clinic_token = set_current_clinic(clinic_id)


def _unscope(exc):
    token = g.pop("clinic_token", None)
    if token is not None:
        reset_current_clinic(token)


def init_app(app):
    login_manager.init_app(app)
    app.before_request(_scope_request_to_clinic)
    app.teardown_request(_unscope)
