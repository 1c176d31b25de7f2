"""The owner's search of the clinic's audit log. The rows about a patient include those about
its appointments and records, so the search sits above audit.py, appointments.py and records.py."""
from datetime import datetime, time

from .appointments import Appointment
from .audit import AuditLog
from .records import MedicalRecord


def search(user_id=None, patient_id=None, action=None, first_day=None, last_day=None):
    """The clinic's rows matching every filter given, newest first."""
    query = AuditLog.select()
    if user_id is not None:
        query = query.where(AuditLog.user_id == user_id)
    if patient_id is not None:
        query = query.where(about_patient(patient_id))
    if action:
        query = query.where(AuditLog.action == action)
    if first_day is not None:
        query = query.where(AuditLog.created_at >= datetime.combine(first_day, time()))
    if last_day is not None:
        query = query.where(AuditLog.created_at <= datetime.combine(last_day, time.max))
    return query.order_by(AuditLog.id.desc())


def about_patient(patient_id):
    """The condition for rows about a patient: the patient itself, its appointments and
    records, or a detail naming its patient_id (as json.dumps writes it, or compact)."""
    appointments = Appointment.select(Appointment.id).where(Appointment.patient == patient_id)
    records = MedicalRecord.select(MedicalRecord.id).where(MedicalRecord.patient == patient_id)
    clause = ((AuditLog.object_type == "patient") & (AuditLog.object_id == patient_id)
              | (AuditLog.object_type == "appointment") & AuditLog.object_id.in_(appointments)
              | (AuditLog.object_type == "record") & AuditLog.object_id.in_(records))
    for pattern in ('"patient_id": {}', '"patient_id":{}'):
        for end in (",", "}"):
            clause = clause | AuditLog.detail.contains(pattern.format(patient_id) + end)
    return clause
