"""Therapists (施術者), optionally linked to a staff account."""
from peewee import JOIN, fn

from ..clock import now
from ..db.connection import database
from ..db.prepared import prepared
from .accounts import User
from .audit import AuditLog
from .base import CharField, ClinicModel, DateTimeField, ForeignKeyField, created_at
from .clinic import Clinic
from .plan_limits import PlanCounted, check_room

STATUSES = {"active": "有効", "inactive": "無効"}


class Therapist(PlanCounted, ClinicModel):
    clinic = ForeignKeyField(Clinic, column_name="clinic_id", backref="+")
    name = CharField()
    license_number = CharField(default="")
    specialty = CharField(default="")
    phone = CharField(default="")
    email = CharField(default="")
    status = CharField(default="active")
    user = ForeignKeyField(User, column_name="user_id", null=True, backref="+")
    created_at = created_at()
    updated_at = DateTimeField(default=now)

    plan_kind = "therapists"

    class Meta:
        table_name = "therapists"

    @property
    def is_active(self):
        return self.status == "active"

    @property
    def status_label(self):
        return STATUSES[self.status]

    @classmethod
    def active(cls):
        """The active therapists, in the order they were added (a list)."""
        return cls._active()

    @prepared
    def _active(cls):
        return cls.select().where(cls.status == "active").order_by(cls.id)

    @classmethod
    def plan_counted(cls, month_start):
        return cls.select(fn.COUNT(cls.id)).where(cls.status == "active")

    @classmethod
    def listing(cls):
        return cls.select().order_by(cls.status, cls.id)

    @prepared(one=True)
    def for_user(cls, user_id):
        """The therapist linked to this login account, or None."""
        return cls.select().where(cls.user == user_id)

    @classmethod
    def listing_with_accounts(cls):
        """listing() with each therapist's login account (or None) loaded in the same query."""
        return (cls.select(cls, User.id, User.username, User.display_name, User.is_active)
                .join(User, JOIN.LEFT_OUTER, on=(cls.user == User.id))
                .order_by(cls.status, cls.id))

    @staticmethod
    def account_choices(therapist=None):
        """Login accounts a therapist can be linked to: the clinic's active staff, plus the
        one the therapist is already linked to."""
        condition = User.is_active == True  # noqa: E712
        if therapist is not None and therapist.user_id is not None:
            condition = condition | (User.id == therapist.user_id)
        return User.select().where(condition).order_by(User.role, User.username)

    @classmethod
    def add(cls, **fields):
        """A new therapist; an active one needs room in the plan (else PlanLimitReached)."""
        with database.atomic():
            if fields.get("status", "active") == "active":
                check_room(cls)
            therapist = cls.create(**fields)
            _audit("therapist_created", therapist, {"status": therapist.status})
            return therapist

    def revise(self, **fields):
        """Change the therapist's details; activating needs room in the plan."""
        with database.atomic():
            if fields.get("status") == "active" and not self.is_active:
                check_room(Therapist)
            changed = sorted(key for key, value in fields.items()
                             if _stored(getattr(self, _column(key))) != _stored(value))
            for key, value in fields.items():
                setattr(self, key, value)
            self.updated_at = now()
            self.save()
            if changed:
                _audit("therapist_updated", self, {"changed": changed})

    def set_status(self, status):
        """Activate (needs room in the plan) or deactivate; the history stays either way."""
        if status not in STATUSES:
            raise ValueError(f"unknown therapist status {status!r}")
        self.revise(status=status)


def _column(key):
    """The attribute holding a field's stored value (user -> user_id)."""
    return "user_id" if key == "user" else key


def _stored(value):
    return getattr(value, "id", value)


def _audit(action, therapist, detail):
    AuditLog.append(action, "therapist", therapist.id, detail)
