"""Patients and therapists."""
from peewee import fn

from .base import (
    BooleanField, CharField, ClinicModel, DateField, ForeignKeyField, IntegerField, TextField,
    DateTimeField, created_at, now,
)
from .accounts import User
from .clinic import Clinic


class Patient(ClinicModel):
    clinic = ForeignKeyField(Clinic, column_name="clinic_id", backref="+")
    chart_number = IntegerField()
    name = CharField()
    name_kana = CharField()
    date_of_birth = DateField(null=True)
    gender = CharField(default="")
    phone = CharField(default="")
    email = CharField(default="")
    address = TextField(default="")
    is_new_patient = BooleanField(default=True)
    created_at = created_at()
    updated_at = DateTimeField(default=now)

    class Meta:
        table_name = "patients"

    @classmethod
    def next_chart_number(cls):
        """The clinic's next カルテ番号; call inside the write transaction that inserts."""
        return (cls.select(fn.MAX(cls.chart_number)).scalar() or 0) + 1


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

    @classmethod
    def active(cls):
        return cls.select().where(cls.status == "active").order_by(cls.id)

    @classmethod
    def for_user(cls, user_id):
        return cls.get_or_none(cls.user == user_id)
