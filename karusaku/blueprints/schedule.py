"""The day schedule, the week view, and booking, moving and checking in appointments."""
from flask import Blueprint

from ..access import names_object, require_staff
from ..models import Appointment

bp = Blueprint("schedule", __name__)
bp.before_request(require_staff)
names_object("appointment_id", Appointment)
