"""Clinics, their subscription plans and their settings (hours, closed days, slot length)."""
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from ..forms import FormReader
from .base import BaseModel, CharField, IntegerField, TextField, created_at


@dataclass(frozen=True)
class Plan:
    name: str
    label: str
    monthly_yen: int
    patients: int | None  # None: unlimited
    therapists: int | None
    records_per_month: int | None


PLANS = {
    "starter": Plan("starter", "スターター", 5500, 100, 3, 500),
    "pro": Plan("pro", "プロ", 15000, 500, 10, 2000),
    "enterprise": Plan("enterprise", "エンタープライズ", 30000, None, None, None),
}

WEEKDAY_LABELS = "月火水木金土日"  # index = date.weekday(), Monday = 0
SLOT_CHOICES = (5, 10, 15, 20, 30, 60)
# What an owner may change on the settings page; plan, limits, code and status are the operator's.
SETTINGS_FIELDS = ("name", "address", "phone", "email", "opens_at", "closes_at",
                   "closed_weekdays", "slot_minutes")


def _hhmm(form, name, label):
    """A time of day typed as HH:MM (what <input type=time> sends), or None with an error."""
    value = form.raw(name).strip()
    if not value:
        form.error(name, f"{label}を入力してください")
        return None
    try:
        if len(value) != 5 or not value.isascii():
            raise ValueError(value)
        return datetime.strptime(value, "%H:%M").time()
    except ValueError:
        form.error(name, f"{label}は 09:00 の形で入力してください")
        return None


def read_settings_form(data):
    """The clinic settings of a submitted form, cleaned; raises forms.Invalid.

    closed_weekdays comes as several values (one checkbox per weekday, Monday = 0)."""
    form = FormReader(data)
    fields = {
        "name": form.text("name", "院名", required=True, max_length=100),
        "address": form.text("address", "住所", max_length=200),
        "phone": form.text("phone", "電話番号", max_length=30),
        "email": form.text("email", "メールアドレス", max_length=200),
    }
    if fields["email"] and "@" not in fields["email"]:
        form.error("email", "メールアドレスを確かめてください")
    opens = _hhmm(form, "opens_at", "開始時刻")
    closes = _hhmm(form, "closes_at", "終了時刻")
    if opens and closes and opens >= closes:
        form.error("closes_at", "終了時刻は開始時刻より後にしてください")
    fields["opens_at"] = f"{opens:%H:%M}" if opens else None
    fields["closes_at"] = f"{closes:%H:%M}" if closes else None
    days = data.getlist("closed_weekdays") if hasattr(data, "getlist") else [form.raw("closed_weekdays")]
    days = [day for day in days if isinstance(day, str) and day != ""]
    if any(len(day) != 1 or day not in "0123456" for day in days):
        form.error("closed_weekdays", "休診日を選び直してください")
    fields["closed_weekdays"] = "".join(sorted(set(days) & set("0123456")))
    slot = form.integer("slot_minutes", "予約枠の長さ", required=True)
    if slot is not None and slot not in SLOT_CHOICES:
        form.error("slot_minutes", "予約枠の長さを選んでください")
    fields["slot_minutes"] = slot
    form.check()
    return fields


class Clinic(BaseModel):
    code = CharField(unique=True)
    name = CharField()
    address = TextField(default="")
    phone = CharField(default="")
    email = CharField(default="")
    subscription_plan = CharField(default="starter")
    max_patients = IntegerField(null=True)
    status = CharField(default="active")
    opens_at = CharField(default="09:00")
    closes_at = CharField(default="20:00")
    closed_weekdays = CharField(default="")
    slot_minutes = IntegerField(default=15)
    created_at = created_at()

    class Meta:
        table_name = "clinics"

    @property
    def plan(self):
        return PLANS[self.subscription_plan]

    @property
    def is_active(self):
        return self.status == "active"

    @property
    def patient_limit(self):
        """max_patients when set, else the plan's patient limit (None: unlimited)."""
        return self.max_patients if self.max_patients is not None else self.plan.patients

    @property
    def closed_weekday_labels(self):
        """The closed weekdays in Japanese, e.g. '土日'."""
        return "".join(WEEKDAY_LABELS[int(d)] for d in sorted(self.closed_weekdays) if d in "0123456")

    @classmethod
    def by_code(cls, code):
        return cls.get_or_none(cls.code == code)

    @classmethod
    def current(cls):
        """The logged-in user's clinic."""
        from ..tenancy import current_clinic_id

        return cls.get_by_id(current_clinic_id())

    @classmethod
    def revise_settings(cls, clinic_id, by=None, ip="", **fields):
        """Change one clinic's settings (only SETTINGS_FIELDS) and log what changed."""
        from ..db import database
        from .audit import AuditLog

        unknown = set(fields) - set(SETTINGS_FIELDS)
        if unknown:
            raise TypeError(f"not a clinic setting: {', '.join(sorted(unknown))}")
        with database.atomic():
            before = cls.get_by_id(clinic_id)
            changed = {key: [getattr(before, key), value] for key, value in fields.items()
                       if getattr(before, key) != value}
            cls.update(**fields).where(cls.id == clinic_id).execute()
            who = {"user_id": by.id, "username": by.username} if by is not None else {}
            AuditLog.append("settings_changed", "clinic", clinic_id, {"changed": changed},
                            ip=ip, **who)

    def closed_on(self, day):
        """True when the clinic is closed on that day of the week."""
        return str(day.weekday()) in self.closed_weekdays

    def hours_for(self, day):
        """(opens, closes) as datetime.time; the same hours every open day."""
        return time.fromisoformat(self.opens_at), time.fromisoformat(self.closes_at)

    def slot_times(self, day):
        """The start of every slot of the day's grid, from opening time while before closing
        time, stepping slot_minutes. Closed days get a grid too: closed_on() marks them."""
        opens, closes = self.hours_for(day)
        moment, end = datetime.combine(day, opens), datetime.combine(day, closes)
        step = timedelta(minutes=max(int(self.slot_minutes or 15), 1))
        times = []
        while moment < end:
            times.append(moment.time())
            moment += step
        return times
