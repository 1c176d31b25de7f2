"""Booking what the front desk's form asked for (forms/booking.py reads it): one appointment or
a weekly series, for a picked patient or one registered on the spot, all in one write
transaction."""
from dataclasses import dataclass, field
from datetime import datetime

from .db.connection import database
from .models import Appointment, Clinic, Patient
from .models.appointments import BookingConflict, therapist_problem, time_problem


@dataclass
class SeriesSlot:
    start: datetime
    problem: str = ""  # why this one cannot be booked
    conflicts: list = field(default_factory=list)


def preview(request):
    """Each slot of a series, checked one by one: the conflicts are shown before any is saved."""
    clinic = Clinic.current()
    slots = []
    for start in request.starts:
        conflicts = Appointment.overlapping(request.therapist.id, start, request.minutes)
        problem = (therapist_problem(request.therapist)
                   or time_problem(clinic, start, request.minutes)
                   or ("予約あり" if conflicts else ""))
        slots.append(SeriesSlot(start, problem, conflicts))
    return slots


def book(request):
    """Book every free slot of the request; BookingConflict when none could be booked."""
    with database.atomic():
        patient = request.patient or Patient.register(**request.new_patient)
        if not request.is_series:
            return [Appointment.book(patient, request.therapist, request.starts[0],
                                     request.minutes, request.notes)], []
        booked, skipped = [], []
        for slot in preview(request):
            if slot.problem:
                skipped.append(slot)
                continue
            booked.append(Appointment.book(patient, request.therapist, slot.start,
                                           request.minutes, request.notes))
        if not booked:
            raise BookingConflict("繰り返しのどの日時も予約できませんでした")
        return booked, skipped
