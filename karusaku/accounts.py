"""Account rules: log-in with lockout, and creating and changing accounts.

Every failed log-in (unknown clinic, unknown user, wrong password, locked or disabled account,
suspended clinic) looks the same to the client and costs the same time; the audit log tells
them apart.
"""
import re
from datetime import timedelta

from flask import current_app
from .clock import now
from .db import database
from .models import PLANS, ROLES, AuditLog, Clinic, LoginSession, PlatformAdmin, PlatformAuditLog, User
from .passwords import burn_time, hash_password, password_problem, verify_password
from .tenancy import clinic_context

CLINIC_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{1,31}$")
USERNAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class AccountError(ValueError):
    """A request to create or change an account that breaks a rule; the message is Japanese."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field


def authenticate_staff(clinic_code, username, password, ip=""):
    """The clinic user for these credentials, or None (and the attempt is audited)."""
    clinic = Clinic.by_code((clinic_code or "").strip().lower())
    if clinic is None:
        burn_time(password)
        PlatformAuditLog.append("login_failed", username=username[:64], ip=ip,
                                detail={"reason": "unknown_clinic", "clinic_code": clinic_code[:64]})
        return None
    with clinic_context(clinic.id):
        user = User.by_username(username)
        if user is None:
            burn_time(password)
            AuditLog.append("login_failed", username=username[:64], ip=ip,
                            detail={"reason": "unknown_user"})
            return None
        refusal = _refusal(user, clinic)
        if _check(user, password, refusal, ip, AuditLog, {"user_id": user.id}):
            return user
        return None


def authenticate_admin(username, password, ip=""):
    """The platform admin for these credentials, or None."""
    admin = PlatformAdmin.by_username(username)
    if admin is None:
        burn_time(password)
        PlatformAuditLog.append("admin_login_failed", username=username[:64], ip=ip,
                                detail={"reason": "unknown_user"})
        return None
    refusal = None if admin.is_active else "disabled"
    if admin.is_locked:
        refusal = "locked"
    if _check(admin, password, refusal, ip, PlatformAuditLog, {"admin_id": admin.id},
              prefix="admin_"):
        return admin
    return None


def _refusal(user, clinic):
    if not clinic.is_active:
        return "clinic_suspended"
    if not user.is_active:
        return "disabled"
    if user.is_locked:
        return "locked"
    return None


def _check(account, password, refusal, ip, log, who, prefix=""):
    """Verify outside any transaction (it is slow), then record the outcome in a short one."""
    matches = verify_password(account.password, password)
    who = {**who, "username": account.username}
    model = type(account)
    if refusal:
        log.append(prefix + "login_failed", ip=ip, detail={"reason": refusal}, **who)
        return False
    if not matches:
        _count_failure(account, ip, log, who, prefix + "login_failed", prefix + "lockout")
        return False
    if account.needs_second_factor:  # logged in after the second step (second_factor.py)
        changes, action = {"failed_logins": 0}, "login_password_ok"
    else:
        changes, action = {"failed_logins": 0, "locked_until": None, "last_login": now()}, "login"
    with database.atomic():
        model.update(**changes).where(model.id == account.id).execute()
        log.append(prefix + action, ip=ip, **who)
    return True


def _count_failure(account, ip, log, who, failed_action, lockout_action):
    """One more wrong password in a row; the fifth locks the account for 15 minutes."""
    model = type(account)
    with database.atomic():
        model.update(failed_logins=model.failed_logins + 1).where(model.id == account.id).execute()
        failures = model.select(model.failed_logins).where(model.id == account.id).scalar()
        log.append(failed_action, ip=ip, detail={"reason": "wrong_password"}, **who)
        if failures >= current_app.config["LOCKOUT_FAILURES"]:
            until = now() + timedelta(minutes=current_app.config["LOCKOUT_MINUTES"])
            model.update(failed_logins=0, locked_until=until).where(model.id == account.id).execute()
            log.append(lockout_action, ip=ip, detail={"until": str(until)}, **who)


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
        _count_failure(user, ip, AuditLog, {"user_id": user.id, "username": user.username},
                       "password_change_failed", "lockout")
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
