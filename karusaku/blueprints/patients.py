"""Patients: list with live search, registration, details, editing."""
from flask import Blueprint

from ..access import names_object, require_staff
from ..models import Patient

bp = Blueprint("patients", __name__, url_prefix="/patients")
bp.before_request(require_staff)
names_object("patient_id", Patient)
