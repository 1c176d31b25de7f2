"""The second factor: TOTP (RFC 6238, by pyotp) and one-time recovery codes.

An account has a confirmed secret (`totp_secret`) or none. Enrolment keeps a new secret in
`totp_pending_secret` until a code made from it is typed; then it becomes the secret and ten
recovery codes are shown once (only their SHA-256 hashes are kept: they are random, 50 bits).
A code is accepted once: `totp_last_step` holds the time step of the last accepted code, and
a code of the same or an earlier step is refused. Wrong codes at log-in count in
`totp_failures` (a right password does not reset them); the fifth in a row locks the account
for LOCKOUT_MINUTES, like wrong passwords. Staff events go to the clinic's audit log, the
operator's to the platform's.
"""
import hashlib
import secrets
from datetime import timedelta

import pyotp
import segno
from flask import current_app
from markupsafe import Markup

from . import throttle
from .accounts import record_success
from .clock import now
from .db.connection import database
from .models import AuditLog, DeviceLockout, LoginSession, PlatformAuditLog

ISSUER = "Karusaku"
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread


class SecondFactorError(ValueError):
    """A request about the second factor that cannot be done; the message is Japanese."""


def _audit(account):
    """(log model, who, action prefix) for the account's events."""
    if account.is_platform_admin:
        return PlatformAuditLog, {"admin_id": account.id, "username": account.username}, "admin_"
    return AuditLog, {"user_id": account.id, "username": account.username}, ""


def _set(account, **values):
    model = type(account)
    model.update(**values).where(model.id == account.id).execute()
    for name, value in values.items():
        setattr(account, name, value)


def pending_secret(account):
    """The secret being enrolled (made now when there is none), for the QR code and the URI."""
    if not account.totp_pending_secret:
        _set(account, totp_pending_secret=pyotp.random_base32())
    return account.totp_pending_secret


def provisioning_uri(account, secret):
    """otpauth://totp/… naming the service (and the clinic) and the account."""
    issuer = ISSUER
    if not account.is_platform_admin:
        issuer = f"{ISSUER} {account.clinic.name}"
    issuer = issuer.replace(":", " ")
    return pyotp.TOTP(secret).provisioning_uri(name=account.username, issuer_name=issuer)


def qr_svg(uri):
    """The URI as a QR code, an inline <svg> (paths only, no script, no style attribute)."""
    code = segno.make(uri, error="m")
    return Markup(code.svg_inline(scale=4, omitsize=True, svgclass="qr-code", lineclass=None,
                                  title="認証アプリで読み取るQRコード"))


def _clean(code):
    return "".join((code or "").split()).replace("-", "").lower()[:64]


def _hash(recovery_code):
    return hashlib.sha256(_clean(recovery_code).encode()).hexdigest()


def _new_recovery_codes():
    codes = ["".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
             for _ in range(RECOVERY_CODES)]
    return [f"{code[:5]}-{code[5:]}" for code in codes]


def _step(secret, code):
    """The time step (30 s) whose code this is, within one step either side; else None."""
    code = _clean(code)
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        return None
    try:
        return pyotp.TOTP(secret).verify_and_get_timecode(code, valid_window=1)
    except pyotp.exceptions.OTPVerificationError:
        return None


def _take_step(account, step):
    """Mark the step used, unless it (or a later one) was already: False for a replay."""
    model = type(account)
    taken = model.update(totp_last_step=step).where(
        model.id == account.id,
        model.totp_last_step.is_null() | (model.totp_last_step < step)).execute()
    return taken == 1


def _take_recovery_code(account, code):
    """Use up one recovery code: False when it is not one of the account's unused codes."""
    codes = account.recovery_codes.split()
    wanted = _hash(code)
    if not _clean(code) or wanted not in codes:
        return False
    left = " ".join(c for c in codes if c != wanted)
    model = type(account)
    taken = model.update(recovery_codes=left).where(
        model.id == account.id, model.recovery_codes == account.recovery_codes).execute()
    account.recovery_codes = left
    return taken == 1


def confirm_enrolment(account, code, ip=""):
    """Make the pending secret the account's, given a code from it; returns the ten new recovery
    codes (shown once). A new enrolment replaces the old secret and codes."""
    secret = account.totp_pending_secret
    step = _step(secret, code) if secret else None
    if step is None:
        raise SecondFactorError("コードが違います。認証アプリに表示されている6桁の数字を入力してください。")
    codes = _new_recovery_codes()
    log, who, prefix = _audit(account)
    with database.atomic():
        renewed = account.has_second_factor
        _set(account, totp_secret=secret, totp_pending_secret=None, totp_last_step=step,
             totp_failures=0, recovery_codes=" ".join(_hash(c) for c in codes))
        log.append(prefix + "second_factor_enrolled", ip=ip, detail={"renewed": renewed}, **who)
    return codes


def check_code(account, code, ip="", nonce=None, locked=None):
    """The second step of a log-in: 'totp' or 'recovery_code' when the code is right (and not
    used before), else None. `nonce` is the browser's trusted device cookie (accounts.
    trusted_nonce) and `locked` what accounts.check_before_secret said for it (by default: the
    account's lock). Wrong codes count like wrong passwords: a trusted browser's against its
    device cookie, another's against its address's budget and the account's lockout."""
    log, who, prefix = _audit(account)
    locked = account.is_locked if locked is None else locked
    if locked or not account.has_second_factor:
        if nonce is None:  # a refused attempt still spends its address's budget
            throttle.count_failure(ip)
        log.append_failure(prefix + "second_factor_failed", ip, detail={
            "reason": "locked" if locked else "not_enrolled"}, **who)
        return None
    with database.atomic():
        step = _step(account.totp_secret, code)
        if step is not None and _take_step(account, step):
            method = "totp"
        elif step is None and _take_recovery_code(account, code):
            method = "recovery_code"
        else:
            method = None
        if method:
            _set(account, totp_failures=0)
            log.append(prefix + "second_factor_passed", ip=ip, detail={
                "method": method, "recovery_codes_left": account.recovery_codes_left}, **who)
            return method
    _count_failure(account, ip, "replayed" if step is not None else "wrong_code", nonce)
    return None


def _count_failure(account, ip, reason, nonce=None):
    model = type(account)
    log, who, prefix = _audit(account)
    limit = current_app.config["LOCKOUT_FAILURES"]
    lock_for = timedelta(minutes=current_app.config["LOCKOUT_MINUTES"])
    detail = {"reason": reason, **({"device_cookie": True} if nonce is not None else {})}
    with database.atomic():
        until = None
        if nonce is not None:
            until = DeviceLockout.count_failure(nonce, limit, lock_for)
        else:
            throttle.count_failure(ip)
            model.update(totp_failures=model.totp_failures + 1).where(
                model.id == account.id).execute()
            failures = model.select(model.totp_failures).where(model.id == account.id).scalar()
            if failures >= limit:
                until = now() + lock_for
                model.update(totp_failures=0, locked_until=until).where(
                    model.id == account.id).execute()
        log.append_failure(prefix + "second_factor_failed", ip, detail=detail, **who)
        if until is not None:
            log.append_failure(prefix + "lockout", ip, detail={
                "until": str(until), "device_cookie": nonce is not None}, **who)


def logged_in(account, ip="", nonce=None):
    """Both steps done: the log-in, recorded as accounts.record_success records one."""
    record_success(account, nonce, ip, second_factor=True)


def disable(account, code, ip=""):
    """Remove the account's own second factor, given a current code (not when it is required)."""
    if account.second_factor_required:
        raise SecondFactorError("この医院では二段階認証が必須のため、無効にできません。"
                                if not account.is_platform_admin else
                                "運営アカウントでは二段階認証が必須です。")
    if not check_code(account, code, ip):
        raise SecondFactorError("コードが違います。認証アプリのコードか回復コードを入力してください。")
    log, who, prefix = _audit(account)
    with database.atomic():
        _forget(account)
        log.append(prefix + "second_factor_disabled", ip=ip, **who)


def reset(account, by, ip=""):
    """Another person (an owner for staff, the operator for owners) removes the account's second
    factor, e.g. after a lost phone; every session of the account ends. The account enrols again
    at its next log-in when its clinic requires it."""
    log, _, prefix = _audit(account)
    by_who = {"username": by.username}
    if not by.is_platform_admin:
        by_who["user_id"] = by.id
    with database.atomic():
        _forget(account)
        if account.is_platform_admin:
            LoginSession.end_all_for_admin(account.id)
        else:
            LoginSession.end_all_for_user(account.id)
        log.append(prefix + "second_factor_reset", "user", account.id, ip=ip, detail={
            "username": account.username, "by_platform_admin": by.is_platform_admin}, **by_who)
        if by.is_platform_admin and not account.is_platform_admin:
            PlatformAuditLog.append("owner_second_factor_reset", "clinic", account.clinic_id,
                                    {"user_id": account.id}, ip=ip, admin_id=by.id,
                                    username=by.username)


def _forget(account):
    _set(account, totp_secret=None, totp_pending_secret=None, totp_last_step=None,
         totp_failures=0, recovery_codes="")
