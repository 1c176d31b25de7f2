"""Account rules: log-in with lockout, and creating and changing accounts.

Every failed log-in (unknown clinic, unknown user, wrong password, locked or disabled account,
suspended clinic) looks the same to the client and costs the same time; the audit log tells
them apart (up to its bound per address and hour). An address past its failure budget is
refused before any hash (throttle.py); a browser with the account's device cookie is held only
by its own failures (devices.py).
"""
from datetime import timedelta

from flask import current_app

from . import throttle
from .clock import now
from .db.connection import database
from .db.tenancy import clinic_context
from .models import (
    PLANS,
    ROLES,
    AuditLog,
    Clinic,
    DeviceLockout,
    LoginSession,
    PlatformAdmin,
    PlatformAuditLog,
    User,
)
from .passwords import burn_time, hash_password, password_problem, verify_password
from .rules import CLINIC_CODE, USERNAME


class AccountError(ValueError):
    """A request to create or change an account that breaks a rule; the message is Japanese."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field


def authenticate_staff(clinic_code, username, password, ip="", devices=None):
    """The clinic user for these credentials, or None (and the attempt is audited). devices is
    {device_key: nonce} of the browser's device cookie. Raises throttle.Throttled, before any
    hash, when the address of a browser not trusted for the account is past its budget."""
    clinic = Clinic.by_code((clinic_code or "").strip().lower())
    if clinic is None:
        _unknown(password, ip, PlatformAuditLog, "login_failed", username=username[:64],
                 detail={"reason": "unknown_clinic", "clinic_code": clinic_code[:64]})
        return None
    with clinic_context(clinic.id):
        user = User.by_username(username)
        if user is None:
            _unknown(password, ip, AuditLog, "login_failed", username=username[:64],
                     detail={"reason": "unknown_user"})
            return None
        return user if _check(user, password, _refusal(user, clinic), ip, devices) else None


def authenticate_admin(username, password, ip="", devices=None):
    """The platform admin for these credentials, or None (throttled as authenticate_staff)."""
    admin = PlatformAdmin.by_username(username)
    if admin is None:
        _unknown(password, ip, PlatformAuditLog, "admin_login_failed", username=username[:64],
                 detail={"reason": "unknown_user"})
        return None
    refusal = None if admin.is_active else "disabled"
    return admin if _check(admin, password, refusal, ip, devices) else None


def _refusal(user, clinic):
    if not clinic.is_active:
        return "clinic_suspended"
    if not user.is_active:
        return "disabled"
    return None


def _unknown(password, ip, log, action, detail, **who):
    """A log-in naming no account: throttled, as slow as a real check, counted, logged."""
    throttle.check(ip)
    burn_time(password)
    with database.atomic():
        throttle.count_failure(ip)
        log.append_failure(action, ip, detail=detail, **who)


def trusted_nonce(account, devices):
    """The nonce of the browser's device cookie for account ({device_key: nonce}, from
    devices.presented()) when it is not locked out: the browser is trusted (OWASP). Else None."""
    nonce = (devices or {}).get(account.device_key)
    if nonce is None or DeviceLockout.is_locked(nonce):
        return None  # a locked-out device cookie counts as none
    return nonce


def check_before_secret(account, nonce, ip):
    """Before any hash or code is checked: an untrusted browser (nonce None) meets its
    address's budget (raises throttle.Throttled) and the account's lockout ("locked")."""
    if nonce is not None:
        return None
    throttle.check(ip)
    return "locked" if account.is_locked else None


def record_failure(account, nonce, ip, reason="wrong_password", counted=True):
    """A failed attempt at one of account's secrets (a password, or a second-factor code),
    audited within the address's bound. When counted (a secret was checked and was wrong): a
    trusted browser's against its device cookie, another's against its address's budget and the
    account's lockout. A refused attempt (locked, disabled) is counted=False."""
    log, who, prefix = _audit_target(account)
    detail = {"reason": reason}
    if nonce is not None:
        detail["device_cookie"] = True
    failures, minutes = _lockout()
    with database.atomic():  # the account's row first, then the audit chain (as elsewhere)
        if nonce is None:
            throttle.count_failure(ip)
        until = None
        if counted:
            until = (_lock_after_failure(account) if nonce is None else
                     DeviceLockout.count_failure(nonce, failures, timedelta(minutes=minutes)))
        log.append_failure(prefix + "login_failed", ip, detail=detail, **who)
        if until is not None:
            log.append_failure(prefix + "lockout", ip, detail={
                "until": str(until), "device_cookie": nonce is not None}, **who)


def record_success(account, nonce, ip, second_factor=False):
    """A log-in that passed: clears the failures of the browser's kind, audited. An account with
    a second factor has only passed its password (`login_password_ok`): the log-in itself is
    recorded after the code (`second_factor=True`, from second_factor.logged_in)."""
    log, who, prefix = _audit_target(account)
    model = type(account)
    finished = second_factor or not account.needs_second_factor
    with database.atomic():
        if nonce is not None:  # the attempts of other browsers stay counted
            DeviceLockout.clear(nonce)
            changes = {}
        else:
            changes = {"failed_logins": 0, "locked_until": None}
        if finished:
            changes["last_login"] = now()
        if changes:
            model.update(**changes).where(model.id == account.id).execute()
        detail = {key: True for key, on in (("device_cookie", nonce is not None),
                                            ("second_factor", second_factor)) if on}
        log.append(prefix + ("login" if finished else "login_password_ok"), ip=ip,
                   detail=detail or None, **who)


def _check(account, password, refusal, ip, devices):
    """The password step. Verify outside any transaction (it is slow), then record the
    outcome in a short one."""
    nonce = trusted_nonce(account, devices)
    locked = check_before_secret(account, nonce, ip)  # first: a refused account is throttled too
    refusal = refusal or locked
    matches = verify_password(account.password, password)
    if refusal or not matches:
        record_failure(account, nonce, ip, refusal or "wrong_password", counted=not refusal)
        return False
    record_success(account, nonce, ip)
    return True


def _audit_target(account):
    """(the account's audit chain, who it is there, the actions' prefix)."""
    if account.is_platform_admin:
        return PlatformAuditLog, {"admin_id": account.id, "username": account.username}, "admin_"
    return AuditLog, {"user_id": account.id, "username": account.username}, ""


def _lockout():
    config = current_app.config
    return config["LOCKOUT_FAILURES"], config["LOCKOUT_MINUTES"]


def _lock_after_failure(account):
    """One more wrong password in a row from browsers without the account's device cookie;
    the LOCKOUT_FAILURES-th locks those out for LOCKOUT_MINUTES. The lock's end, or None."""
    model = type(account)
    failures, minutes = _lockout()
    model.update(failed_logins=model.failed_logins + 1).where(model.id == account.id).execute()
    if model.select(model.failed_logins).where(model.id == account.id).scalar() < failures:
        return None
    until = now() + timedelta(minutes=minutes)
    model.update(failed_logins=0, locked_until=until).where(model.id == account.id).execute()
    return until


def create_clinic(code, name, plan, owner_username, owner_password, **details):
    """A new clinic with its first owner account, in one transaction (platform-logged)."""
    code = (code or "").strip().lower()
    if not CLINIC_CODE.match(code):
        raise AccountError("医院コードは英小文字・数字・ハイフンの2〜32文字にしてください", "code")
    if not (name or "").strip():
        raise AccountError("医院名を入力してください", "name")
    if plan not in PLANS:
        raise AccountError(f"プラン「{plan}」はありません（{' / '.join(PLANS)}）", "plan")
    owner, password_hash = _new_credentials(owner_username, owner_password)
    with database.atomic():
        if Clinic.by_code(code) is not None:
            raise AccountError(f"医院コード「{code}」は既に使われています", "code")
        clinic = Clinic.create(code=code, name=name.strip(), subscription_plan=plan, **details)
        with clinic_context(clinic.id):
            _add_user(owner, password_hash, "owner")
        PlatformAuditLog.append("clinic_created", "clinic", clinic.id, {
            "code": clinic.code, "plan": clinic.subscription_plan,
            "max_patients": clinic.max_patients})
    return clinic


def create_user(username, password, role, display_name="", by=None):
    """A new staff account in the current clinic."""
    username, password_hash = _new_credentials(username, password)
    if role not in ROLES:
        raise AccountError(f"役割「{role}」はありません（{' / '.join(ROLES)}）", "role")
    if len(display_name or "") > 100:
        raise AccountError("表示名は100文字以内にしてください", "display_name")
    with database.atomic():
        return _add_user(username, password_hash, role, (display_name or "").strip(), by)


def _add_user(username, password_hash, role, display_name="", by=None):
    if User.by_username(username) is not None:
        raise _taken(username)
    user = User.create(username=username, password=password_hash, role=role,
                       display_name=display_name)
    AuditLog.append("user_created", "user", user.id, {"username": username, "role": role},
                    **_actor(by))
    return user


def create_platform_admin(username, password):
    """A new operator account for /admin."""
    username, password_hash = _new_credentials(username, password)
    with database.atomic():
        if PlatformAdmin.by_username(username) is not None:
            raise _taken(username)
        return PlatformAdmin.create(username=username, password=password_hash)


def _new_credentials(username, password):
    """The cleaned username and the password's hash, or AccountError. Hashing is slow, so it
    happens here, before the write transaction."""
    username = (username or "").strip()
    if not USERNAME.match(username):
        raise AccountError("ユーザー名は半角英数字と . _ - の64文字以内にしてください", "username")
    problem = password_problem(password)
    if problem:
        raise AccountError(problem, "password")
    return username, hash_password(password)


def _taken(username):
    return AccountError(f"ユーザー名「{username}」は既に使われています", "username")


def change_password(user, current_password, new_password, ip=""):
    """Change the user's own password; every session of the user ends."""
    if not verify_password(user.password, current_password):
        # Counted like a failed log-in, so a borrowed session cannot guess the password.
        who = {"user_id": user.id, "username": user.username}
        with database.atomic():
            AuditLog.append("password_change_failed", ip=ip, detail={"reason": "wrong_password"},
                            **who)
            until = _lock_after_failure(user)
            if until is not None:
                AuditLog.append("lockout", ip=ip, detail={"until": str(until)}, **who)
        raise AccountError("現在のパスワードが違います", "current_password")
    set_password(user, new_password, by=user, ip=ip)


def set_password(user, new_password, by, ip=""):
    """Set a staff user's password (their own, or by an owner); ends all their sessions."""
    problem = password_problem(new_password)
    if problem:
        raise AccountError(problem, "new_password")
    password_hash = hash_password(new_password)
    with database.atomic():
        User.update(password=password_hash, failed_logins=0, locked_until=None).where(
            User.id == user.id).execute()
        LoginSession.end_all_for_user(user.id)
        AuditLog.append("password_changed", "user", user.id, ip=ip, **_actor(by))


def set_active(user, active, by, ip=""):
    """Enable or disable a staff account; disabling ends all its sessions."""
    if not active and user.role == "owner" and user.is_active and User.active_owner_count() <= 1:
        raise AccountError("最後の院長アカウントは無効にできません", "is_active")
    with database.atomic():
        User.update(is_active=active).where(User.id == user.id).execute()
        if not active:
            LoginSession.end_all_for_user(user.id)
        AuditLog.append("user_enabled" if active else "user_disabled", "user", user.id, ip=ip,
                        **_actor(by))


def _actor(user):
    if user is None:
        return {"username": "(command line)"}
    return {"user_id": user.id, "username": user.username}
