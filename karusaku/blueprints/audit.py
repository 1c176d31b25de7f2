"""The owner's audit-log viewer: filter, page through, export as CSV."""
from flask import Blueprint

from ..access import require_staff

bp = Blueprint("audit", __name__, url_prefix="/audit")
bp.before_request(require_staff)
