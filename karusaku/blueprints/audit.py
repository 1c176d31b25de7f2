"""The owner's audit-log viewer: filter, page through, export as CSV.

Only the owner's own clinic: every query goes through the tenant scope.
"""
from dataclasses import dataclass

from flask import Blueprint, Response, current_app, request

from ..clock import now
from ..db.tenancy import clinic_context
from ..forms import FormReader, page_number
from ..models import AuditLog, Clinic, Patient, User, audit_search
from ..models.audit import ACTION_LABELS
from ..web import htmx, presenters
from ..web.access import require_staff, roles

bp = Blueprint("audit", __name__)
bp.before_request(require_staff)

CSV_CHUNK = 500


@dataclass
class Filters:
    """The viewer's filters as read from the query string; errors maps field to message."""

    user_id: int = None
    patient: object = None  # the Patient of the chart number asked for
    action: str = ""
    first_day: object = None
    last_day: object = None
    errors: dict = None

    def query(self):
        return audit_search.search(user_id=self.user_id,
                                   patient_id=self.patient.id if self.patient else None,
                                   action=self.action or None, first_day=self.first_day,
                                   last_day=self.last_day)

    def args(self):
        """The filters as query-string arguments, for the pager and the CSV link."""
        return _given(user_id=self.user_id,
                      patient=self.patient.chart_number if self.patient else None,
                      action=self.action, **self._days())

    def logged(self):
        """The filters as the audit_exported row records them."""
        return _given(user_id=self.user_id, patient_id=self.patient.id if self.patient else None,
                      action=self.action, **self._days())

    def _days(self):
        return {"from": self.first_day.isoformat() if self.first_day else None,
                "to": self.last_day.isoformat() if self.last_day else None}


def _given(**values):
    return {key: value for key, value in values.items() if value not in (None, "")}


def read_filters(args, users, actions):
    """Filters from the query string; a bad value leaves a Japanese message in errors."""
    form = FormReader(args)
    user_id = form.integer("user_id", "ユーザー")
    if user_id is not None and user_id not in users:
        form.error("user_id", "ユーザーを一覧から選んでください")
    chart_number = form.integer("patient", "カルテ番号", minimum=1)
    patient = None
    if chart_number is not None and "patient" not in form.errors:
        patient = Patient.get_or_none(Patient.chart_number == chart_number)
        if patient is None:
            form.error("patient", f"カルテ番号 {chart_number} の患者はいません")
    action = form.choice("action", "操作", set(actions) | set(ACTION_LABELS), required=False)
    first_day, last_day = form.date("from", "開始日"), form.date("to", "終了日")
    if first_day and last_day and first_day > last_day:
        form.error("to", "終了日は開始日以降にしてください")
    return Filters(user_id, patient, action or "", first_day, last_day, form.errors)


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
