"""Flashed messages that carry no patient data.

Flask keeps flashed messages in the session cookie, which is signed, not encrypted: whoever
holds the browser, or a copy of its cookie, can read them. So a message about a patient is
flashed as a notice, its kind and the row id of the patient or appointment, and is put into
words (name, chart number) from the database only when a page shows it, through the tenant
scope: a row the reader's clinic cannot see makes no message. Every other flash is a fixed
text or names staff, never a patient (tests/test_notices.py reads the cookie after each).
"""
from flask import flash, get_flashed_messages

from ..db.tenancy import current_scope
from ..models import Appointment, Patient

DUPLICATES_SHOWN = 5


def notice(kind, row, **extra):
    """Flash the notice `kind` about row (a Patient or an Appointment); extra holds only
    numbers and times, never names."""
    flash({"notice": kind, "id": row.id, **extra})


def messages():
    """(category, text) of every flashed message, notices put into words."""
    for category, message in get_flashed_messages(with_categories=True):
        if isinstance(message, dict):
            yield from ((category, text) for text in _words(message))
        else:
            yield category, message


def _words(message):
    model, words = NOTICES.get(message.get("notice"), (None, None))
    row_id, (clinic_id, _) = message.get("id"), current_scope()
    found = model and isinstance(row_id, int) and clinic_id is not None
    row = model.with_id(row_id) if found else None  # a clinic's own rows only
    return words(row, message) if row is not None else []


def _registered(patient, _):
    yield f"患者「{patient.name}」を登録しました（カルテ番号 {patient.chart_number}）。"
    duplicates = list(patient.possible_duplicates().limit(DUPLICATES_SHOWN + 1))
    if duplicates:
        named = "、".join(f"カルテ番号 {p.chart_number} {p.name}" for p in duplicates[:DUPLICATES_SHOWN])
        more = " ほか" if len(duplicates) > DUPLICATES_SHOWN else ""
        yield f"同じ方かもしれない患者がいます（フリガナと生年月日、または電話番号が同じ）: {named}{more}"


def _updated(patient, _):
    yield f"患者「{patient.name}」の情報を更新しました。"


def _booked(appointment, message):
    text = f"{appointment.patient.name}さんの予約を{int(message.get('count', 1))}件登録しました。"
    skipped = [str(s) for s in message.get("skipped", [])]
    if skipped:
        text += "予約できなかった日時: " + "、".join(skipped)
    yield text


NOTICES = {  # kind: (model of the row, its words)
    "patient_registered": (Patient, _registered),
    "patient_updated": (Patient, _updated),
    "booked": (Appointment, _booked),
}
