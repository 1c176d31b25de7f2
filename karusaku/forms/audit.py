"""The owner's audit-log filters, read from the query string."""
from dataclasses import dataclass

from ..models import Patient, audit_search
from ..models.audit import ACTION_LABELS
from .reader import FormReader


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
