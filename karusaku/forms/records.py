"""The visit record form (new and edit, with the body chart) and the 定型文 template form."""
from ..body_chart import dumps, read_marks
from ..models.appointments import Appointment
from ..models.records import FIELDS, MAX_TEXT
from ..models.therapists import Therapist
from .reader import FormReader


def read_record_form(data, patient):
    """The record fields of a submitted form, cleaned; raises Invalid."""
    form = FormReader(data)
    therapist_id = form.integer("therapist_id", "施術者", required=True, minimum=1)
    therapist = Therapist.with_id(therapist_id) if therapist_id else None
    if therapist_id and therapist is None:
        form.error("therapist_id", "施術者を選び直してください")
    fields = {
        "therapist": therapist,
        "visit_date": form.date("visit_date", "施術日", required=True),
        **{name: form.text(name, label, max_length=MAX_TEXT, multiline=True)
           for name, label in FIELDS.items()},
        "body_chart": dumps(read_marks(form)),
    }
    appointment_id = form.integer("appointment_id", "予約", minimum=1)
    fields["appointment"] = None
    if appointment_id:
        appointment = Appointment.get_or_none(Appointment.id == appointment_id,
                                              Appointment.patient == patient.id)
        if appointment is None:
            form.error("appointment_id", "予約を選び直してください")
        fields["appointment"] = appointment
    form.check()
    return fields


def read_record_edit(data, patient):
    """(version the edit started from, record fields) of an edit; raises Invalid, the
    record's fields first, then a missing or bad version."""
    fields = read_record_form(data, patient)
    form = FormReader(data)
    version = form.integer("version", "版", required=True, minimum=1)
    form.check()
    return version, fields


def read_delete_form(data):
    """Why a record is deleted (required); raises Invalid."""
    form = FormReader(data)
    reason = form.text("reason", "削除の理由", required=True, max_length=500)
    form.check()
    return reason


def read_template_form(data):
    """A 定型文: the record field it is for, a title, the text and its place; raises Invalid."""
    form = FormReader(data)
    fields = {
        "field": form.choice("field", "項目", FIELDS),
        "title": form.text("title", "見出し", required=True, max_length=50),
        "body": form.text("body", "本文", required=True, max_length=2000, multiline=True),
        "sort_order": form.integer("sort_order", "並び順", minimum=0, maximum=9999) or 0,
    }
    form.check()
    return fields
