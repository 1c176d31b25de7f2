"""The owner's audit-log viewer: filter, page through, export as CSV.

Only the owner's own clinic: every query goes through the tenant scope.
"""
import csv
import io
import unicodedata
from dataclasses import dataclass

from flask import Blueprint, Response, current_app, request

from ..web import htmx
from ..web.access import require_staff, roles
from ..clock import now
from ..forms import FormReader, page_number
from ..models import ROLES, Appointment, AuditLog, Clinic, Patient, User
from ..models.audit import ACTION_LABELS, OBJECT_LABELS
from ..db.tenancy import clinic_context
from ..web.views import history_label

bp = Blueprint("audit", __name__)
bp.before_request(require_staff)

# Object types with a page, and the URL argument naming the object.
OBJECT_PAGES = {"patient": ("patients.show", "patient_id"),
                "record": ("records.show", "record_id"),
                "appointment": ("schedule.appointment", "appointment_id"),
                "therapist": ("therapists.show", "therapist_id"),
                "user": ("users.index", None), "clinic": ("clinic.settings", None)}
CSV_HEADER = ["番号", "日時", "ユーザー", "操作", "操作コード", "対象", "対象ID", "カルテ番号",
              "患者", "内容", "IPアドレス"]
CSV_CHUNK = 500
FORMULA_STARTS = set("=+-@＝＋－＠")

REASONS = {"unknown_user": "存在しないユーザー名", "wrong_password": "パスワードの誤り",
           "locked": "ロック中", "disabled": "無効なアカウント",
           "clinic_suspended": "医院の利用停止中", "unknown_clinic": "存在しない医院コード"}
DETAIL_KEYS = {"reason": "理由", "until": "ロック解除", "username": "ユーザー名", "role": "役割",
               "version": "版", "fields": "変更項目", "changed": "変更", "status": "状態",
               "from": "開始日", "to": "終了日", "clinic_code": "医院コード", "user_id": "ユーザーID",
               "action": "操作", "rows": "件数"}


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
        return AuditLog.search(user_id=self.user_id,
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
        actions=[(name, ACTION_LABELS.get(name, name)) for name in actions],
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
    return _page(filters, users, actions, entries=present(query.paginate(page, per_page)),
                 total=total, page=page, pages=pages)


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
    yield "\ufeff" + _csv_row(CSV_HEADER)
    before = None
    while True:
        with clinic_context(clinic_id):
            query = filters.query()
            if before is not None:
                query = query.where(AuditLog.id < before)
            entries = present(query.limit(CSV_CHUNK))
        if not entries:
            return
        yield "".join(_csv_row(_csv_cells(entry)) for entry in entries)
        before = entries[-1].row.id


def _csv_cells(entry):
    row, patient = entry.row, entry.patient
    return [row.id, f"{row.created_at}", row.username, row.action_label, row.action,
            OBJECT_LABELS.get(row.object_type, row.object_type), row.object_id or "",
            patient.chart_number if patient else "", patient.name if patient else "",
            entry.detail, row.ip]


def _csv_row(cells):
    """One CSV line; a text cell that a spreadsheet would run as a formula gets a leading '."""
    out = io.StringIO()
    csv.writer(out).writerow(["'" + cell if _is_formula(cell) else cell for cell in cells])
    return out.getvalue()


def _is_formula(cell):
    """A text cell a spreadsheet could run: its first visible character is one of OWASP's
    formula starts or their full-width forms (which Japanese Excel also reads), or it begins
    with a control character (a tab, a line break, a bidirectional mark)."""
    if not isinstance(cell, str) or not cell:
        return False
    if _is_control(cell[0]):
        return True
    visible = next((c for c in cell if not c.isspace() and not _is_control(c)), "")
    return visible in FORMULA_STARTS


def _is_control(char):
    return unicodedata.category(char) in ("Cc", "Cf")


# --- rows in words ------------------------------------------------------------------------

@dataclass
class Entry:
    """An audit row as the viewer shows it."""

    row: AuditLog
    patient: Patient = None
    detail: str = ""

    @property
    def object_label(self):
        if not self.row.object_type:
            return ""
        label = OBJECT_LABELS.get(self.row.object_type, self.row.object_type)
        return f"{label} #{self.row.object_id}" if self.row.object_id is not None else label

    @property
    def object_link(self):
        """(endpoint, arguments) of the object's page, or None."""
        page = OBJECT_PAGES.get(self.row.object_type)
        if page is None or self.row.object_id is None:
            return None
        endpoint, arg = page
        return endpoint, ({arg: self.row.object_id} if arg else {})


def present(rows):
    """Entries for audit rows: each with its patient (one query for all) and detail in words."""
    rows = list(rows)
    appointment_ids = {r.object_id for r in rows
                       if r.object_type == "appointment" and r.object_id is not None}
    appointment_patients = {a.id: a.patient_id for a in Appointment.select(
        Appointment.id, Appointment.patient).where(Appointment.id.in_(appointment_ids))
    } if appointment_ids else {}
    wanted = [_patient_id(row, appointment_patients) for row in rows]
    ids = {pid for pid in wanted if pid is not None}
    patients = {p.id: p for p in Patient.select(Patient.id, Patient.chart_number, Patient.name)
                .where(Patient.id.in_(ids))} if ids else {}
    return [Entry(row, patients.get(pid), describe(row)) for row, pid in zip(rows, wanted)]


def _patient_id(row, appointment_patients):
    if row.object_type == "patient":
        return row.object_id
    if row.object_type == "appointment":
        return appointment_patients.get(row.object_id)
    value = row.details.get("patient_id")
    return value if isinstance(value, int) and 0 < value < 2**63 else None


def describe(row):
    """The row's detail in words (its patient is shown apart)."""
    if row.action in ("appointment_booked", "appointment_moved", "appointment_status",
                      "appointment_edited"):
        try:
            return history_label(row)
        except (ValueError, AttributeError, TypeError):  # not the detail the app writes
            pass
    return "、".join(f"{DETAIL_KEYS.get(key, key)}: {_value(key, value)}" if key else str(value)
                    for key, value in row.details.items() if key != "patient_id")


def _value(key, value):
    if key in ("reason", "role") and isinstance(value, str):
        return (REASONS if key == "reason" else ROLES).get(value, value)
    if isinstance(value, list):
        return "・".join(map(str, value))
    if isinstance(value, dict):  # settings_changed: {field: [before, after]}
        return "、".join(f"{k}: {v[0]} → {v[1]}" if isinstance(v, list) and len(v) == 2
                        else f"{k}: {v}" for k, v in value.items())
    return "—" if value in (None, "") else str(value)
