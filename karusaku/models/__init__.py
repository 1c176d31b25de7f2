"""The tables. Tenant tables derive from ClinicModel, so every query is clinic-scoped."""
from .accounts import ROLES, LoginSession, PlatformAdmin, User
from .appointments import STATUSES, Appointment
from .audit import AuditLog, PlatformAuditLog
from .clinic import PLANS, Clinic
from .patients import Patient
from .records import MedicalRecord, RecordDraft, RecordRevision, RecordTemplate
from .therapists import Therapist
from .throttle import AddressCounter, DeviceLockout

TENANT_MODELS = [User, Patient, Therapist, Appointment, MedicalRecord, RecordRevision, RecordDraft,
                 RecordTemplate, AuditLog]

__all__ = [
    "AddressCounter", "AuditLog", "Appointment", "DeviceLockout", "Clinic", "LoginSession",
    "MedicalRecord", "PLANS", "Patient", "PlatformAdmin", "PlatformAuditLog", "ROLES",
    "RecordDraft", "RecordRevision", "RecordTemplate", "STATUSES", "TENANT_MODELS", "Therapist",
    "User",
]
