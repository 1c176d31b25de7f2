"""Therapists (施術者), optionally linked to a staff account."""
from ..clock import now
from ..db import database
from ..forms import FormReader
from .accounts import User
from .base import CharField, ClinicModel, DateTimeField, ForeignKeyField, created_at
from .clinic import Clinic

STATUSES = {"active": "有効", "inactive": "無効"}


def read_therapist_form(data):
    """The therapist fields of a submitted form, cleaned; raises forms.Invalid."""
    form = FormReader(data)
    fields = {
        "name": form.text("name", "氏名", required=True, max_length=100),
        "license_number": form.text("license_number", "免許番号", max_length=50),
        "specialty": form.text("specialty", "専門", max_length=100),
        "phone": form.text("phone", "電話番号", max_length=30),
        "email": form.text("email", "メールアドレス", max_length=200),
        "status": form.choice("status", "状態", STATUSES, required=False) or "active",
    }
    user_id = form.integer("user_id", "ログインアカウント", minimum=1)
    if user_id is not None and User.get_or_none(User.id == user_id) is None:
        form.error("user_id", "ログインアカウントを選び直してください")
    fields["user"] = user_id
    if fields["email"] and "@" not in fields["email"]:
        form.error("email", "メールアドレスを確かめてください")
    form.check()
    return fields


class Therapist(ClinicModel):
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
        return cls.select().where(cls.status == "active").order_by(cls.id)

    @classmethod
    def listing(cls):
        return cls.select().order_by(cls.status, cls.id)

    @classmethod
    def for_user(cls, user_id):
        return cls.get_or_none(cls.user == user_id)

    @classmethod
    def add(cls, **fields):
        """A new therapist; an active one needs room in the plan (else PlanLimitReached)."""
        from ..plans import check_room

        with database.atomic():
            if fields.get("status", "active") == "active":
                check_room("therapists")
            return cls.create(**fields)

    def revise(self, **fields):
        """Change the therapist's details; activating needs room in the plan."""
        from ..plans import check_room

        with database.atomic():
            if fields.get("status") == "active" and not self.is_active:
                check_room("therapists")
            for key, value in fields.items():
                setattr(self, key, value)
            self.updated_at = now()
            self.save()
