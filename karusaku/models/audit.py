"""The audit log: append-only (the database refuses UPDATE and DELETE) and hash-chained.

Each row stores the hash of the previous row of its clinic (platform events have a chain of
their own), so an altered or removed row shows as a break in the chain.
"""
import hashlib
import json

from flask import has_request_context, request
from flask_login import current_user

from .base import (
    BaseModel, CharField, ClinicModel, DateTimeField, ForeignKeyField, IntegerField, TextField,
    now,
)
from .clinic import Clinic
from ..db import database
from ..tenancy import current_clinic_id, is_unscoped

GENESIS_HASH = "0" * 64


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


class _AuditRow:
    """Appending a row to a chain; subclasses name the chain's columns."""

    @classmethod
    def _chain_fields(cls, row):
        raise NotImplementedError

    @classmethod
    def append(cls, action, object_type="", object_id=None, detail=None, ip="", **who):
        """Write one event; inside a write transaction so the chain cannot fork. Who and from
        where default to the request's logged-in user and client address."""
        ip, who = _request_defaults(cls, ip, who)
        with database.atomic():
            last = cls.select(cls.row_hash).order_by(cls.id.desc()).limit(1).first()
            row = cls(
                action=action, object_type=object_type, object_id=object_id,
                detail=json.dumps(detail, ensure_ascii=False) if detail else "",
                ip=ip or "", created_at=now(), prev_hash=last.row_hash if last else GENESIS_HASH,
                **who,
            )
            if isinstance(row, ClinicModel) and not is_unscoped():
                row.clinic_id = current_clinic_id()
            row.row_hash = _row_hash(row.prev_hash, cls._chain_fields(row))
            row.save(force_insert=True)
            return row


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
