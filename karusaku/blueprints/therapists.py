"""Therapists: list, new, edit, activate and deactivate."""
from flask import Blueprint

from ..access import names_object, require_staff
from ..models import Therapist

bp = Blueprint("therapists", __name__, url_prefix="/therapists")
bp.before_request(require_staff)
names_object("therapist_id", Therapist)
