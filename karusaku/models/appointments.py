"""Appointments (予約): booking, moving, the status flow."""
from datetime import datetime, time, timedelta

from .base import (
    CharField, ClinicModel, DateTimeField, ForeignKeyField, IntegerField, TextField,
    created_at, now,
)
from .accounts import User
from .clinic import Clinic
from .patients import Patient
from .therapists import Therapist

STATUSES = {
    "booked": "予約",
    "arrived": "来院",
    "completed": "完了",
    "cancelled": "キャンセル",
    "no_show": "無断キャンセル",
}


class Appointment(ClinicModel):
    clinic = ForeignKeyField(Clinic, column_name="clinic_id", backref="+")
    patient = ForeignKeyField(Patient, column_name="patient_id", backref="+")
    therapist = ForeignKeyField(Therapist, column_name="therapist_id", backref="+")
    appointment_date = DateTimeField()
    duration_minutes = IntegerField()
    status = CharField(default="booked")
    notes = TextField(default="")
    created_by = ForeignKeyField(User, column_name="created_by", null=True, backref="+")
    created_at = created_at()
    updated_at = DateTimeField(default=now)

    class Meta:
        table_name = "appointments"

    @property
    def ends_at(self):
        return self.appointment_date + timedelta(minutes=self.duration_minutes)

    @property
    def status_label(self):
        return STATUSES[self.status]

    @classmethod
    def for_day(cls, day, therapist_id=None):
        """The day's appointments with patient and therapist names, in time order."""
        start = datetime.combine(day, time.min)
        query = (
            cls.select(cls.id, cls.appointment_date, cls.duration_minutes, cls.status,
                       cls.therapist, Patient.name.alias("patient_name"),
                       Patient.name_kana.alias("patient_kana"), Therapist.name.alias("therapist_name"))
            .join(Patient, on=(cls.patient == Patient.id))
            .switch(cls)
            .join(Therapist, on=(cls.therapist == Therapist.id))
            .where(cls.appointment_date >= start,
                   cls.appointment_date < start + timedelta(days=1))
            .order_by(cls.appointment_date, Therapist.id)
        )
        if therapist_id is not None:
            query = query.where(cls.therapist == therapist_id)
        return query.objects()
