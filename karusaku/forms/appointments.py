"""The slot of an appointment (therapist, start, length, notes), read for a booking or a move,
with the clinic's rules on it put on the form's fields."""
from ..models.appointments import MAX_MINUTES, therapist_problem, time_problem
from ..models.therapists import Therapist
from .reader import FormReader


def read_slot(form, current=None):
    """therapist, start, minutes and notes from an open FormReader (a booking's or a move's);
    fields left out keep `current`'s."""
    def given(name):
        return current is None or name in form.data

    therapist = current.therapist if current else None
    if given("therapist_id"):
        therapist_id = form.integer("therapist_id", "施術者", required=True, minimum=1)
        therapist = Therapist.with_id(therapist_id) if therapist_id else None
        if therapist_id and therapist is None:
            form.error("therapist_id", "施術者を選び直してください")
    start = current.appointment_date if current else None
    if given("appointment_date"):
        start = form.datetime("appointment_date", "日時", required=True)
    minutes = current.duration_minutes if current else None
    if given("duration_minutes"):
        minutes = form.integer("duration_minutes", "所要時間", required=True, minimum=1,
                               maximum=MAX_MINUTES)
    notes = current.notes if current else ""
    if given("notes"):
        notes = form.text("notes", "メモ", max_length=1000, multiline=True)
    return therapist, start, minutes, notes


def check_slot(form, clinic, therapist, start, minutes):
    """The slot rules' problems (an inactive therapist, outside the clinic's hours), each on
    its field."""
    if problem := therapist_problem(therapist):
        form.error("therapist_id", problem)
    if start is not None and minutes and (problem := time_problem(clinic, start, minutes)):
        form.error("appointment_date", problem)


def read_move_form(data, appointment, clinic):
    """(therapist, start, minutes, notes) of a moved or edited appointment; raises Invalid."""
    form = FormReader(data)
    slot = read_slot(form, current=appointment)
    check_slot(form, clinic, *slot[:3])
    form.check()
    return slot
