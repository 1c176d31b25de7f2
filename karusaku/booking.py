"""Booking from the front desk's form: one appointment or a weekly series, for a picked
patient or one registered on the spot, all in one write transaction."""
from dataclasses import dataclass, field
from datetime import datetime

from .db.connection import database
from .forms import FormReader, Invalid
from .models import Appointment, Clinic, Patient
from .models.appointments import (
    REPEATS, BookingConflict, check_slot, read_slot_form, repeat_starts,
)
from .models.patients import read_patient_form


@dataclass
class BookingRequest:
    patient: Patient | None  # None: register `new_patient` first
    new_patient: dict | None
    therapist: object
    starts: list
    minutes: int
    notes: str
    repeat: str = ""

    @property
    def is_series(self):
        return len(self.starts) > 1


@dataclass
class SeriesSlot:
    start: datetime
    problem: str = ""  # why this one cannot be booked
    conflicts: list = field(default_factory=list)


def read_request(data):
    """A validated BookingRequest from the form, or Invalid with a message per field."""
    form = FormReader(data)
    patient, new_patient = None, None
    patient_id = form.integer("patient_id", "患者", minimum=1)
    if patient_id is not None:
        patient = Patient.with_id(patient_id)
        if patient is None:
            form.error("patient_id", "患者を選び直してください")
    elif form.raw("name").strip() or form.raw("name_kana").strip():
        try:
            new_patient = read_patient_form(data, quick=True)
        except Invalid as error:
            form.errors.update(error.errors)
    else:
        form.error("patient_id", "患者を選ぶか、新しい患者の氏名とフリガナを入力してください")
    therapist, start, minutes, notes = read_slot_form(form)
    repeat = form.choice("repeat", "繰り返し", REPEATS, required=False) or ""
    times = form.integer("times", "回数", required=bool(repeat), minimum=2, maximum=12) if repeat else 1
    clinic = Clinic.current()
    check_slot(form, clinic, therapist, start, minutes)
    form.check()
    return BookingRequest(patient, new_patient, therapist, repeat_starts(start, repeat, times or 1),
                          minutes, notes, repeat)


def preview(request):
    """Each slot of a series, checked one by one: the conflicts are shown before any is saved."""
    clinic = Clinic.current()
    slots = []
    for start in request.starts:
        form = FormReader({})
        check_slot(form, clinic, request.therapist, start, request.minutes)
        conflicts = Appointment.overlapping(request.therapist.id, start, request.minutes)
        problem = next(iter(form.errors.values()), "") or ("予約あり" if conflicts else "")
        slots.append(SeriesSlot(start, problem, conflicts))
    return slots


def book(request, by=None):
    """Book every free slot of the request; BookingConflict when none could be booked."""
    with database.atomic():
        patient = request.patient or Patient.register(**request.new_patient)
        if not request.is_series:
            return [Appointment.book(patient, request.therapist, request.starts[0],
                                     request.minutes, request.notes, by)], []
        booked, skipped = [], []
        for slot in preview(request):
            if slot.problem:
                skipped.append(slot)
                continue
            booked.append(Appointment.book(patient, request.therapist, slot.start,
                                           request.minutes, request.notes, by))
        if not booked:
            raise BookingConflict("繰り返しのどの日時も予約できませんでした")
        return booked, skipped
