"""The front desk's booking form: a picked patient or one registered on the spot, the slot,
and a weekly or fortnightly repeat, read into a BookingRequest (booking.py books it)."""
from dataclasses import dataclass

from ..models import Clinic, Patient
from ..models.appointments import REPEATS, repeat_starts
from .appointments import check_slot, read_slot
from .patients import read_patient_form
from .reader import FormReader, Invalid


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
    therapist, start, minutes, notes = read_slot(form)
    repeat = form.choice("repeat", "繰り返し", REPEATS, required=False) or ""
    times = form.integer("times", "回数", required=bool(repeat), minimum=2, maximum=12) if repeat else 1
    check_slot(form, Clinic.current(), therapist, start, minutes)
    form.check()
    return BookingRequest(patient, new_patient, therapist, repeat_starts(start, repeat, times or 1),
                          minutes, notes, repeat)
