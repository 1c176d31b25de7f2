"""The owner's audit-log viewer: filter, page through, export as CSV.

Only the owner's own clinic: every query goes through the tenant scope.
"""
from flask import Blueprint, Response, current_app, request

from ..clock import now
from ..db.tenancy import clinic_context
from ..forms import FormReader, page_number
from ..forms.audit import read_filters
from ..models import AuditLog, Clinic, User
from ..web import htmx, presenters
from ..web.access import require_staff, roles

bp = Blueprint("audit", __name__)
bp.before_request(require_staff)

CSV_CHUNK = 500


def _filters():
    users = {user.id: user for user in User.select().order_by(User.username)}
    actions = AuditLog.actions_present()
    return read_filters(request.args, users, actions), users, actions


def _page(filters, users, actions, status=200, **results):
    return htmx.render(
        "audit/index.html", block="results", status=status, filters=filters,
        form=FormReader(request.args).values(), users=users,
        actions=presenters.action_choices(actions),
        **({"entries": [], "total": 0, "page": 1, "pages": 0} | results))


@bp.get("/audit")
@roles("owner")
def index():
    filters, users, actions = _filters()
    if filters.errors:
        return _page(filters, users, actions, status=422)
    query = filters.query()
    per_page = current_app.config["PER_PAGE"]
    total = query.count()
    pages = (total + per_page - 1) // per_page
    page = min(page_number(request.args), max(pages, 1))  # past the last: the last
    entries = presenters.present(query.paginate(page, per_page))
    return _page(filters, users, actions, entries=entries, total=total, page=page, pages=pages)


@bp.get("/audit.csv")
@roles("owner")
def export_csv():
    filters, users, actions = _filters()
    if filters.errors:
        return _page(filters, users, actions, status=422)
    AuditLog.append("audit_exported", detail=filters.logged())
    clinic = Clinic.current()
    response = Response(_csv_lines(filters, clinic.id), content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="karusaku-audit-{clinic.code}-{now():%Y%m%d-%H%M%S}.csv"')
    return response


def _csv_lines(filters, clinic_id):
    """The CSV, streamed: the BOM (so Excel reads UTF-8), the header, then every matching row,
    newest first, read in short chunks."""
    yield "\ufeff" + presenters.csv_line(presenters.CSV_HEADER)
    before = None
    while True:
        with clinic_context(clinic_id):
            query = filters.query()
            if before is not None:
                query = query.where(AuditLog.id < before)
            entries = presenters.present(query.limit(CSV_CHUNK))
        if not entries:
            return
        yield "".join(presenters.csv_line(presenters.csv_cells(entry)) for entry in entries)
        before = entries[-1].row.id
