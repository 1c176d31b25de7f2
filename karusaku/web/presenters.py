"""Rows in words: what the audit log, an appointment's history, a clinic's platform history and
a record's revisions say to the person reading them, and the audit CSV's cells.

Models keep the data and the rules; the Japanese sentences made from it live here.
"""
import csv
import difflib
import io
import json
import unicodedata
from dataclasses import dataclass

from ..body_chart import summary
from ..models import PLANS, ROLES, STATUSES, Appointment, AuditLog, Patient
from ..models.audit import ACTION_LABELS, OBJECT_LABELS
from ..models.records import FIELDS

# Object types with a page, and the URL argument naming the object.
OBJECT_PAGES = {"patient": ("patients.show", "patient_id"),
                "record": ("records.show", "record_id"),
                "appointment": ("schedule.appointment", "appointment_id"),
                "therapist": ("therapists.show", "therapist_id"),
                "user": ("users.index", None), "clinic": ("clinic.settings", None)}
CSV_HEADER = ["番号", "日時", "ユーザー", "操作", "操作コード", "対象", "対象ID", "カルテ番号",
              "患者", "内容", "IPアドレス"]
FORMULA_STARTS = set("=+-@＝＋－＠")

REASONS = {"unknown_user": "存在しないユーザー名", "wrong_password": "パスワードの誤り",
           "locked": "ロック中", "disabled": "無効なアカウント",
           "clinic_suspended": "医院の利用停止中", "unknown_clinic": "存在しない医院コード"}
DETAIL_KEYS = {"reason": "理由", "until": "ロック解除", "username": "ユーザー名", "role": "役割",
               "version": "版", "fields": "変更項目", "changed": "変更", "status": "状態",
               "from": "開始日", "to": "終了日", "clinic_code": "医院コード", "user_id": "ユーザーID",
               "action": "操作", "rows": "件数"}
APPOINTMENT_ACTIONS = ("appointment_booked", "appointment_moved", "appointment_status",
                       "appointment_edited")


# --- the audit log ---------------------------------------------------------------------------

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


def action_choices(actions):
    """(action, label) for the viewer's action filter."""
    return [(name, ACTION_LABELS.get(name, name)) for name in actions]


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
    if row.action in APPOINTMENT_ACTIONS:
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


# --- the audit CSV -----------------------------------------------------------------------------

def csv_cells(entry):
    """The CSV_HEADER columns of one Entry."""
    row, patient = entry.row, entry.patient
    return [row.id, f"{row.created_at}", row.username, row.action_label, row.action,
            OBJECT_LABELS.get(row.object_type, row.object_type), row.object_id or "",
            patient.chart_number if patient else "", patient.name if patient else "",
            entry.detail, row.ip]


def csv_line(cells):
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


# --- an appointment's history -------------------------------------------------------------------

def history_label(entry):
    """An audit row of an appointment in words: 予約を登録、変更、状態の変更."""
    detail = json.loads(entry.detail) if entry.detail else {}
    if entry.action == "appointment_booked":
        return f"予約を登録 {_slot_text(detail)}"
    if entry.action == "appointment_moved":
        return f"予約を変更 {_slot_text(detail.get('from', {}))} → {_slot_text(detail.get('to', {}))}"
    if entry.action == "appointment_status":
        return (f"状態を変更 {STATUSES.get(detail.get('from'), '')} → "
                f"{STATUSES.get(detail.get('to'), '')}")
    if entry.action == "appointment_edited":
        return "メモを変更"
    return entry.action


def _slot_text(slot):
    return f"{slot.get('start', '')}（{slot.get('minutes', '')}分・{slot.get('therapist', '')}）"


# --- a clinic's platform history ------------------------------------------------------------

def describe_clinic_event(row):
    """A platform audit row about a clinic in Japanese words (plan, limit, status; no names)."""
    detail = json.loads(row.detail) if row.detail else {}
    if row.action == "clinic_created":
        plan = PLANS.get(detail.get("plan"))
        return f"医院を登録（{plan.label if plan else '—'}プラン）"
    if row.action == "clinic_plan_changed":
        parts = []
        changed = detail.get("changed", {})
        if "subscription_plan" in changed:
            old, new = (PLANS[name].label if name in PLANS else "—"
                        for name in changed["subscription_plan"])
            parts.append(f"プラン {old} → {new}")
        if "max_patients" in changed:
            old, new = (_limit_text(value) for value in changed["max_patients"])
            parts.append(f"患者数の上限 {old} → {new}")
        return "、".join(parts) or "プランを変更"
    if row.action == "owner_second_factor_reset":
        return "院長の二段階認証をリセット"
    if row.action == "clinic_reactivated":
        return "利用を再開"
    if row.action == "clinic_suspended":
        return f"利用を停止（終了したログイン {int(detail.get('sessions_ended', 0))}件）"
    return row.action


def _limit_text(value):
    return "プランどおり" if value is None else f"{value}人"


# --- a record's revisions --------------------------------------------------------------------

def revision_changes(previous, current):
    """What changed from one revision to the next: [(label, [(op, text), ...])], where op is
    'equal', 'delete' or 'insert' (a character diff, so a one-word change shows as one)."""
    if previous is None:
        return []
    pairs = [("施術日", str(previous.visit_date), str(current.visit_date)),
             ("施術者", previous.therapist_name, current.therapist_name)]
    pairs += [(label, getattr(previous, name), getattr(current, name))
              for name, label in FIELDS.items()]
    pairs.append(("人体図", summary(previous.marks), summary(current.marks)))
    return [(label, _diff(old or "", new or "")) for label, old, new in pairs if old != new]


def _diff(old, new):
    pieces = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if op in ("delete", "replace"):
            pieces.append(("delete", old[i1:i2]))
        if op in ("insert", "replace"):
            pieces.append(("insert", new[j1:j2]))
        if op == "equal":
            pieces.append(("equal", old[i1:i2]))
    return pieces
