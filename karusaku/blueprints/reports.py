"""Reports for owners: visits, new versus returning patients, no-shows, as SVG charts."""
from flask import Blueprint

from ..access import require_staff

bp = Blueprint("reports", __name__, url_prefix="/reports")
bp.before_request(require_staff)
