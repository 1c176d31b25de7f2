"""Appointments (予約): booking, moving, the status flow.

Overlap is decided inside the write transaction (BEGIN IMMEDIATE) that inserts or moves the
row, so that of two bookings of one slot at the same moment exactly one succeeds.
"""
from datetime import datetime, time, timedelta

from peewee import fn

from ..clock import now, today
from ..db.connection import as_datetime, database, lock_for_update
from ..db.prepared import prepared
from .accounts import User
from .audit import AuditLog, request_user_id
from .base import (
    CharField,
    ClinicModel,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    TextField,
    created_at,
)
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
# The status flow; an owner may also undo a mistaken change (any status to any other).
TRANSITIONS = {
    "booked": ("arrived", "cancelled", "no_show"),
    "arrived": ("completed", "cancelled"),
    "completed": (),
    "cancelled": (),
    "no_show": (),
}
ACTION_LABELS = {"arrived": "来院", "completed": "完了", "cancelled": "キャンセル",
                 "no_show": "無断キャンセル", "booked": "予約に戻す"}
MAX_MINUTES = 8 * 60
REPEATS = {"": "繰り返さない", "weekly": "毎週", "biweekly": "隔週"}
REPEAT_DAYS = {"weekly": 7, "biweekly": 14}


class StatusNotAllowed(ValueError):
    """The status flow does not allow this step (422); the message is Japanese."""


class BookingConflict(Exception):
    """The therapist already has a non-cancelled appointment at that time (409)."""

    def __init__(self, message, conflicts=()):
        super().__init__(message)
        self.conflicts = list(conflicts)


def therapist_problem(therapist):
    """Why the therapist cannot be booked (an inactive one), or None."""
    if therapist is not None and not therapist.is_active:
        return f"{therapist.name}さんは現在無効のため予約できません"
    return None


def time_problem(clinic, start, minutes):
    """Why the clinic takes no booking then (a closed day, outside its hours), or None."""
    end = start + timedelta(minutes=minutes)
    if clinic.closed_on(start.date()):
        return "休診日には予約できません"
    opens, closes = clinic.hours_for(start.date())
    if start.time() < opens or end.date() != start.date() or end.time() > closes:
        return f"診療時間（{opens:%H:%M}〜{closes:%H:%M}）の中で予約してください"
    return None


class _Status:
    """What an appointment's status means, for models and listed rows alike."""

    __slots__ = ()

    @property
    def status_label(self):
        return STATUSES[self.status]

    @property
    def is_active(self):
        return self.status != "cancelled"


class ListedAppointment(_Status):
    """A row of a day's or week's listing: the appointment with its patient's and therapist's
    names. A plain object made from the driver's row (Appointment._listing()'s columns), not a
    model: a day has dozens and the pages only read them."""

    __slots__ = ("id", "appointment_date", "duration_minutes", "status", "notes", "therapist_id",
                 "patient_id", "patient_name", "patient_kana", "patient_is_new", "therapist_name",
                 "ends_at")

    def __init__(self, id, appointment_date, duration_minutes, status, notes, therapist, patient,
                 patient_name, patient_kana, patient_is_new, therapist_name):
        self.id, self.duration_minutes = id, duration_minutes
        self.appointment_date = as_datetime(appointment_date)
        self.status, self.notes, self.therapist_id, self.patient_id = status, notes, therapist, patient
        self.patient_name, self.patient_kana = patient_name, patient_kana
        self.patient_is_new, self.therapist_name = bool(patient_is_new), therapist_name
        self.ends_at = self.appointment_date + timedelta(minutes=duration_minutes)


class Appointment(_Status, ClinicModel):
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

    @classmethod
    def _listing(cls):
        return (
            cls.select(cls.id, cls.appointment_date, cls.duration_minutes, cls.status, cls.notes,
                       cls.therapist, cls.patient, Patient.name.alias("patient_name"),
                       Patient.name_kana.alias("patient_kana"),
                       Patient.is_new_patient.alias("patient_is_new"),
                       Therapist.name.alias("therapist_name"))
            .join(Patient, on=(cls.patient == Patient.id))
            .switch(cls)
            .join(Therapist, on=(cls.therapist == Therapist.id))
        )

    @classmethod
    def between(cls, first_day, last_day, therapist_id=None):
        """Appointments from first_day to last_day (inclusive) with patient and therapist
        names, in time order (a list)."""
        start = datetime.combine(first_day, time.min)
        end = datetime.combine(last_day, time.min) + timedelta(days=1)
        if therapist_id is None:
            return cls._between(start=start, end=end)
        return cls._between_for_therapist(start=start, end=end, therapist_id=therapist_id)

    @prepared(rows=ListedAppointment)
    def _between(cls, start, end):
        return (cls._listing().where(cls.appointment_date >= start, cls.appointment_date < end)
                .order_by(cls.appointment_date, Therapist.id))

    @prepared(rows=ListedAppointment)
    def _between_for_therapist(cls, start, end, therapist_id):
        return (cls._listing().where(cls.appointment_date >= start, cls.appointment_date < end,
                                     cls.therapist == therapist_id)
                .order_by(cls.appointment_date, Therapist.id))

    @classmethod
    def for_day(cls, day, therapist_id=None):
        return cls.between(day, day, therapist_id)

    @classmethod
    def upcoming_for(cls, patient_id, limit=50):
        """The patient's appointments still to come: later than now, or today's still booked or
        arrived; never cancelled. With the therapist's name, in time order (a list)."""
        return cls._upcoming_for(patient_id=patient_id, moment=now(), limit=limit,
                                 start_of_today=datetime.combine(today(), time.min))

    @prepared
    def _upcoming_for(cls, patient_id, moment, start_of_today, limit):
        still_today = cls.status.in_(("booked", "arrived"))
        return (cls.select(cls.id, cls.appointment_date, cls.duration_minutes, cls.status,
                           Therapist.name.alias("therapist_name"))
                .join(Therapist, on=(cls.therapist == Therapist.id))
                .where(cls.patient == patient_id, cls.status != "cancelled",
                       cls.appointment_date >= start_of_today,  # a range on the index
                       (cls.appointment_date >= moment) | still_today)
                .order_by(cls.appointment_date, cls.id)
                .limit(limit)
                .objects())

    @classmethod
    def visit_count(cls, patient_id):
        """How many times the patient came: their completed appointments."""
        return (cls.select(fn.COUNT(cls.id))
                .where(cls.patient == patient_id, cls.status == "completed")
                .scalar())

    @classmethod
    def counts_for_therapist(cls, therapist_id):
        """How many appointments name the therapist: upcoming (still booked) and all."""
        appointments = cls.select().where(cls.therapist == therapist_id)
        return {
            "upcoming": appointments.where(cls.appointment_date >= now(),
                                           cls.status == "booked").count(),
            "appointments": appointments.count(),
        }

    @classmethod
    def overlapping(cls, therapist_id, start, minutes, exclude_id=None):
        """The therapist's non-cancelled appointments that overlap [start, start + minutes)."""
        near = cls._near(therapist_id=therapist_id, end=start + timedelta(minutes=minutes),
                          earliest=start - timedelta(minutes=MAX_MINUTES),
                          exclude_id=exclude_id or 0)  # ids start at 1: 0 excludes nothing
        return [a for a in near if a.ends_at > start]

    @prepared
    def _near(cls, therapist_id, end, earliest, exclude_id):
        return cls.select(cls.id, cls.appointment_date, cls.duration_minutes).where(
            cls.therapist == therapist_id, cls.status != "cancelled",
            cls.appointment_date < end, cls.appointment_date > earliest, cls.id != exclude_id)

    @classmethod
    def _refuse_overlap(cls, therapist, start, minutes, exclude_id=None):
        lock_for_update(Therapist, therapist.id)  # PostgreSQL: one booking of a therapist at a time
        conflicts = cls.overlapping(therapist.id, start, minutes, exclude_id)
        if conflicts:
            times = "、".join(f"{c.appointment_date:%H:%M}〜{c.ends_at:%H:%M}" for c in conflicts)
            raise BookingConflict(f"{therapist.name}さんは {start:%m/%d} {times} に別の予約があります",
                                  conflicts)

    @classmethod
    def book(cls, patient, therapist, start, minutes, notes=""):
        """A new appointment; BookingConflict when the therapist is busy then."""
        with database.atomic():
            cls._refuse_overlap(therapist, start, minutes)
            appointment = cls.create(patient=patient, therapist=therapist, appointment_date=start,
                                     duration_minutes=minutes, notes=notes,
                                     created_by=request_user_id())
            _log(appointment, "appointment_booked",
                 {"start": f"{start:%Y-%m-%d %H:%M}", "minutes": minutes,
                  "therapist": therapist.name})
        return appointment

    def move(self, therapist, start, minutes, notes):
        """Change time, therapist, length or notes; BookingConflict when that time is taken."""
        with database.atomic():
            if self.is_active:
                Appointment._refuse_overlap(therapist, start, minutes, exclude_id=self.id)
            before = {"start": f"{self.appointment_date:%Y-%m-%d %H:%M}",
                      "minutes": self.duration_minutes, "therapist": self.therapist.name}
            self.therapist, self.appointment_date = therapist, start
            self.duration_minutes, self.notes, self.updated_at = minutes, notes, now()
            self.save()
            after = {"start": f"{start:%Y-%m-%d %H:%M}", "minutes": minutes,
                     "therapist": therapist.name}
            if before != after:
                _log(self, "appointment_moved", {"from": before, "to": after})
            else:
                _log(self, "appointment_edited")

    def next_statuses(self, role):
        """The statuses this role may set next: the flow, or (owner) any other to undo a mistake."""
        if role == "owner":
            return [s for s in STATUSES if s != self.status]
        return list(TRANSITIONS[self.status])

    def change_status(self, status, role):
        """Move along the status flow (an owner may undo); StatusNotAllowed for another step."""
        if status not in self.next_statuses(role):
            raise StatusNotAllowed(f"「{STATUSES[self.status]}」から"
                                   f"「{STATUSES.get(status, status)}」には変更できません")
        with database.atomic():
            if self.status == "cancelled":  # back from cancelled: the slot must still be free
                Appointment._refuse_overlap(self.therapist, self.appointment_date,
                                            self.duration_minutes, exclude_id=self.id)
            previous, self.status, self.updated_at = self.status, status, now()
            self.save()
            _log(self, "appointment_status", {"from": previous, "to": status})
            _refresh_new_patient_flag(self.patient)

    def history(self):
        """Who booked, moved, cancelled or checked it in, and when (from the audit log)."""
        return AuditLog.for_object("appointment", self.id)


def _refresh_new_patient_flag(patient):
    """is_new_patient stays true until the patient's first completed visit."""
    completed = (Appointment.select().where(Appointment.patient == patient.id,
                                            Appointment.status == "completed").exists())
    Patient.update(is_new_patient=not completed).where(Patient.id == patient.id).execute()


def _log(appointment, action, detail=None):
    AuditLog.append(action, "appointment", appointment.id, detail)


def repeat_starts(start, repeat, times):
    """The start of each booking of a recurring series (the first is `start`)."""
    if not repeat:
        return [start]
    return [start + timedelta(days=REPEAT_DAYS[repeat] * n) for n in range(times)]
