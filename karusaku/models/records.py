"""Visit records (施術録)."""
from .accounts import User
from .appointments import Appointment
from .base import ClinicModel, DateField, DateTimeField, ForeignKeyField, TextField, created_at, now
from .clinic import Clinic
from .patients import Patient
from .therapists import Therapist


class MedicalRecord(ClinicModel):
    clinic = ForeignKeyField(Clinic, column_name="clinic_id", backref="+")
    patient = ForeignKeyField(Patient, column_name="patient_id", backref="+")
    therapist = ForeignKeyField(Therapist, column_name="therapist_id", backref="+")
    appointment = ForeignKeyField(Appointment, column_name="appointment_id", null=True,
                                  backref="+")
    visit_date = DateField()
    symptoms = TextField(default="")
    diagnosis = TextField(default="")
    treatment = TextField(default="")
    prescription = TextField(default="")
    notes = TextField(default="")
    body_chart = TextField(default="[]")
    created_by = ForeignKeyField(User, column_name="created_by", null=True, backref="+")
    created_at = created_at()
    updated_at = DateTimeField(default=now)

    class Meta:
        table_name = "medical_records"
