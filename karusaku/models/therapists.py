"""Therapists (施術者), optionally linked to a staff account."""
from peewee import JOIN, fn

from ..clock import now
from ..db.connection import database
from ..forms import FormReader
from ..db.prepared import prepared
from .accounts import User
from .audit import AuditLog
from .base import CharField, ClinicModel, DateTimeField, ForeignKeyField, created_at
from .clinic import Clinic
from .plan_limits import PlanCounted, check_room

STATUSES = {"active": "有効", "inactive": "無効"}


def read_therapist_form(data, therapist=None):
    """The therapist fields of a submitted form, cleaned; raises forms.Invalid.

    `therapist` is the one being edited: a form without a status keeps theirs, and the login
    account they are already linked to stays selectable even when it has been disabled."""
    form = FormReader(data)
    fields = {
        "name": form.text("name", "氏名", required=True, max_length=100),
        "license_number": form.text("license_number", "免許番号", max_length=50),
        "specialty": form.text("specialty", "専門", max_length=100),
        "phone": form.text("phone", "電話番号", max_length=30),
        "email": form.text("email", "メールアドレス", max_length=200),
        "status": form.choice("status", "状態", STATUSES, required=False)
        or (therapist.status if therapist is not None else "active"),
    }
    user_id = form.integer("user_id", "ログインアカウント", minimum=1)
    if user_id is not None and not form.errors.get("user_id"):
        _check_account(form, user_id, therapist)
    fields["user"] = user_id
    if fields["email"] and "@" not in fields["email"]:
        form.error("email", "メールアドレスを確かめてください")
    form.check()
    return fields


def _check_account(form, user_id, therapist):
    """The login account must be this clinic's, active (unless already linked) and not linked
    to another therapist."""
    user = User.with_id(user_id)
    already = therapist is not None and therapist.user_id == user_id
    if user is None:
        form.error("user_id", "ログインアカウントを選び直してください")
    elif not user.is_active and not already:
        form.error("user_id", "無効なログインアカウントは選べません")
    else:
        other = Therapist.for_user(user_id)
        if other is not None and (therapist is None or other.id != therapist.id):
            form.error("user_id", f"このログインアカウントは既に「{other.name}」に紐付いています")


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
    def add(cls, by=None, ip="", **fields):
        """A new therapist; an active one needs room in the plan (else PlanLimitReached)."""
        with database.atomic():
            if fields.get("status", "active") == "active":
                check_room(cls)
            therapist = cls.create(**fields)
            _audit("therapist_created", therapist, by, ip, {"status": therapist.status})
            return therapist

    def revise(self, by=None, ip="", **fields):
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
                _audit("therapist_updated", self, by, ip, {"changed": changed})

    def set_status(self, status, by=None, ip=""):
        """Activate (needs room in the plan) or deactivate; the history stays either way."""
        if status not in STATUSES:
            raise ValueError(f"unknown therapist status {status!r}")
        self.revise(status=status, by=by, ip=ip)

    def history_counts(self):
        """How many appointments (upcoming, all) and visit records name this therapist."""
        from .appointments import Appointment  # appointments.py imports this module
        from .records import MedicalRecord  # records.py imports this module

        appointments = Appointment.select().where(Appointment.therapist == self.id)
        return {
            "upcoming": appointments.where(Appointment.appointment_date >= now(),
                                           Appointment.status == "booked").count(),
            "appointments": appointments.count(),
            "records": MedicalRecord.select().where(MedicalRecord.therapist == self.id).count(),
        }


def _column(key):
    """The attribute holding a field's stored value (user -> user_id)."""
    return "user_id" if key == "user" else key


def _stored(value):
    return getattr(value, "id", value)


def _audit(action, therapist, by, ip, detail):
    who = {"user_id": by.id, "username": by.username} if by is not None else {}
    AuditLog.append(action, "therapist", therapist.id, detail, ip=ip, **who)
