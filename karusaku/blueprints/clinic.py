"""The clinic's settings (hours, slot length, details) and its usage against the plan."""
from flask import Blueprint

from ..access import require_staff

bp = Blueprint("clinic", __name__)
bp.before_request(require_staff)
