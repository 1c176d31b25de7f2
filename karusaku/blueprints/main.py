"""The home page: today's appointments for the clinic, or the therapist's own first."""
from flask import Blueprint
from flask_login import current_user

from ..clock import today
from ..models import Appointment, Therapist
from ..web import htmx
from ..web.access import require_staff

bp = Blueprint("main", __name__)
bp.before_request(require_staff)


@bp.get("/")
def home():
    own = Therapist.for_user(current_user.id) if current_user.role == "therapist" else None
    day = today()
    appointments = Appointment.for_day(day, therapist_id=own.id if own else None)
    return htmx.render("main/home.html", day=day, own_therapist=own, appointments=appointments)
