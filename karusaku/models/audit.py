"""The audit log: append-only (the database refuses UPDATE and DELETE) and hash-chained.

Each row stores the hash of the previous row of its clinic (platform events have a chain of
their own), so an altered or removed row shows as a break in the chain.
"""
import hashlib
import json

from flask import current_app, has_request_context, request
from flask_login import current_user

from ..db.connection import database, transaction_lock
from ..db.prepared import prepared
from ..db.tenancy import current_clinic_id, current_scope, is_unscoped
from .base import (
    BaseModel,
    CharField,
    ClinicModel,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    TextField,
    now,
)
from .clinic import Clinic
from .throttle import AddressCounter, window_start

GENESIS_HASH = "0" * 64

# The events the app writes, in the clinic's words (the viewer falls back to the raw name).
ACTION_LABELS = {
    "login": "ログイン",
    "login_failed": "ログイン失敗",
    "lockout": "アカウントロック",
    "password_changed": "パスワード変更",
    "password_change_failed": "パスワード変更失敗",
    "user_created": "スタッフ登録",
    "user_enabled": "スタッフ有効化",
    "user_disabled": "スタッフ無効化",
    "settings_changed": "医院設定の変更",
    "patient_created": "患者登録",
    "patient_updated": "患者情報の変更",
    "therapist_created": "施術者登録",
    "therapist_updated": "施術者情報の変更",
    "appointment_booked": "予約登録",
    "appointment_moved": "予約変更",
    "appointment_edited": "予約メモ変更",
    "appointment_status": "予約状態の変更",
    "chart_viewed": "カルテ閲覧",
    "record_viewed": "施術録閲覧",
    "record_history_viewed": "施術録の履歴閲覧",
    "chart_printed": "カルテ印刷",
    "record_created": "施術録作成",
    "record_revised": "施術録修正",
    "record_deleted": "施術録削除",
    "clinic_exported": "医院データの書き出し",
    "clinic_imported": "医院データの復元",
    "audit_exported": "監査ログの書き出し",
    "admin_login": "運営ログイン",
    "admin_login_failed": "運営ログイン失敗",
    "admin_lockout": "運営アカウントロック",
    "login_password_ok": "パスワード確認（二段階認証へ）",
    "second_factor_passed": "二段階認証の確認",
    "second_factor_failed": "二段階認証の失敗",
    "second_factor_enrolled": "二段階認証の設定",
    "second_factor_disabled": "二段階認証の無効化",
    "second_factor_reset": "二段階認証のリセット",
    "admin_login_password_ok": "運営パスワード確認",
    "admin_second_factor_passed": "運営二段階認証の確認",
    "admin_second_factor_failed": "運営二段階認証の失敗",
    "admin_second_factor_enrolled": "運営二段階認証の設定",
    "admin_second_factor_reset": "運営二段階認証のリセット",
    "owner_second_factor_reset": "院長の二段階認証リセット",
    "login_failures_suppressed": "ログイン失敗（件数のみ記録）",
}

OBJECT_LABELS = {"patient": "患者", "record": "施術録", "appointment": "予約",
                 "therapist": "施術者", "user": "スタッフ", "clinic": "医院"}


def _row_hash(prev_hash, fields):
    payload = json.dumps([prev_hash, *fields], ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _request_defaults(model, ip, who):
    if not has_request_context():
        return ip, who
    ip = ip or request.remote_addr or ""
    if not who and current_user.is_authenticated:
        key = "admin_id" if current_user.is_platform_admin else "user_id"
        if key in model._meta.fields:
            who = {key: current_user.id, "username": current_user.username}
    return ip, who


def request_user_id():
    """The request's logged-in clinic user's id (whom a row is by, unless told), else None."""
    signed_in = has_request_context() and current_user.is_authenticated
    return current_user.id if signed_in and not current_user.is_platform_admin else None


class _AuditRow:
    """Appending a row to a chain; subclasses name the chain's columns."""

    @classmethod
    def _chain_fields(cls, row):
        raise NotImplementedError

    @classmethod
    def compute_hash(cls, row):
        """The hash a row of this chain must carry: its prev_hash and its content, hashed."""
        return _row_hash(row.prev_hash, cls._chain_fields(row))

    @property
    def action_label(self):
        return ACTION_LABELS.get(self.action, self.action)

    @property
    def details(self):
        """The detail as a dict ({} when empty; {"": text} when it is not a JSON object)."""
        if not self.detail:
            return {}
        try:
            value = json.loads(self.detail)
        except ValueError:
            return {"": self.detail}
        return value if isinstance(value, dict) else {"": self.detail}

    @prepared
    def _last_row_hash(cls):
        return cls.select(cls.row_hash).order_by(cls.id.desc()).limit(1)

    @classmethod
    def append(cls, action, object_type="", object_id=None, detail=None, ip="", **who):
        """Write one event; inside a write transaction so the chain cannot fork. Who and from
        where default to the request's logged-in user and client address."""
        ip, who = _request_defaults(cls, ip, who)
        with database.atomic():
            # PostgreSQL: one append per chain at a time (a clinic's, or the platform's).
            transaction_lock(cls._meta.table_name,
                             (current_scope()[0] or 0) if issubclass(cls, ClinicModel) else 0)
            last = next(iter(cls._last_row_hash()), None)
            row = cls(
                action=action, object_type=object_type, object_id=object_id,
                detail=json.dumps(detail, ensure_ascii=False) if detail else "",
                ip=ip or "", created_at=now(), prev_hash=last.row_hash if last else GENESIS_HASH,
                **who,
            )
            if isinstance(row, ClinicModel) and not is_unscoped():
                row.clinic_id = current_clinic_id()
            row.row_hash = cls.compute_hash(row)
            row.save(force_insert=True)
            return row

    @classmethod
    def append_failure(cls, action, ip, detail=None, **who):
        """A failed log-in's row (or a lockout's), unless its address already has
        AUDIT_FAILURES_PER_HOUR of them this hour, across every chain: then it is only counted,
        and after the hour one platform row says how many (a flood cannot grow any log)."""
        bound = current_app.config["AUDIT_FAILURES_PER_HOUR"]
        hour = window_start(now(), 60)
        with database.atomic():
            PlatformAuditLog.summarize_closed_hours(hour, bound)
            if AddressCounter.hit("audited", ip, hour) <= bound:
                return cls.append(action, detail=detail, ip=ip, **who)
        return None


class AuditLog(_AuditRow, ClinicModel):
    clinic = ForeignKeyField(Clinic, column_name="clinic_id", backref="+")
    user_id = IntegerField(null=True)
    username = CharField(default="")
    action = CharField()
    object_type = CharField(default="")
    object_id = IntegerField(null=True)
    detail = TextField(default="")
    ip = CharField(default="")
    created_at = DateTimeField()
    prev_hash = CharField()
    row_hash = CharField()

    class Meta:
        table_name = "audit_log"

    @classmethod
    def _chain_fields(cls, row):
        return [row.clinic_id, row.user_id, row.username, row.action, row.object_type,
                row.object_id, row.detail, row.ip, row.created_at]

    @classmethod
    def for_object(cls, object_type, object_id):
        return (cls.select().where(cls.object_type == object_type, cls.object_id == object_id)
                .order_by(cls.id))

    @classmethod
    def actions_present(cls):
        """The actions the clinic's log holds, in ACTION_LABELS order, unknown ones last."""
        names = [row.action for row in cls.select(cls.action).distinct()]
        order = list(ACTION_LABELS)
        return sorted(names, key=lambda n: (order.index(n) if n in order else len(order), n))


class PlatformAuditLog(_AuditRow, BaseModel):
    admin_id = IntegerField(null=True)
    username = CharField(default="")
    action = CharField()
    object_type = CharField(default="")
    object_id = IntegerField(null=True)
    detail = TextField(default="")
    ip = CharField(default="")
    created_at = DateTimeField()
    prev_hash = CharField()
    row_hash = CharField()

    class Meta:
        table_name = "platform_audit_log"

    @classmethod
    def _chain_fields(cls, row):
        return [row.admin_id, row.username, row.action, row.object_type, row.object_id,
                row.detail, row.ip, row.created_at]

    @classmethod
    def about_clinic(cls, clinic_id, limit=50):
        """The platform audit rows about a clinic, newest first."""
        return (cls.select().where(cls.object_type == "clinic", cls.object_id == clinic_id)
                .order_by(cls.id.desc()).limit(limit))

    @classmethod
    def summarize_closed_hours(cls, hour, bound, limit=10):
        """For each address whose failures of an hour before `hour` went past the bound, one
        'login_failures_suppressed' row with the counts; then the hour's counter goes. Written
        by the next failure from anywhere, so an hour's count is final when it is written."""
        for counter in AddressCounter.closed("audited", hour, limit):
            forgotten = AddressCounter.forget("audited", counter.address, counter.window_start)
            if forgotten and counter.hits > bound:  # one process writes it, once
                cls.append("login_failures_suppressed", ip=counter.address, detail={
                    "hour": str(counter.window_start), "failures": counter.hits,
                    "not_logged": counter.hits - bound})
