"""Clinics, their subscription plans and their settings (hours, closed days, slot length)."""
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from ..db.tenancy import current_clinic_id
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
                   "closed_weekdays", "slot_minutes", "second_factor_required")
# Who of the clinic's staff must log in with a second factor (the owner's choice).
SECOND_FACTOR_RULES = {"none": "求めない（各自の任意）", "owners": "院長/管理者に必須",
                       "staff": "全スタッフに必須"}


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
    second_factor_required = CharField(default="none")
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
        return cls.with_id(current_clinic_id())

    def requires_second_factor(self, role):
        """True when the clinic's rule makes a user of this role log in with a second factor."""
        rule = self.second_factor_required
        return rule == "staff" or (rule == "owners" and role == "owner")

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

    # --- the platform admin's side (changing plan and status: clinic_admin.py) ----------------

    @classmethod
    def listing(cls):
        """Every clinic, oldest first (the platform admin's list)."""
        return cls.select().order_by(cls.id)

    @property
    def status_label(self):
        return CLINIC_STATUSES.get(self.status, self.status)


CLINIC_STATUSES = {"active": "稼働中", "suspended": "停止中"}
MAX_PATIENTS_LIMIT = 100000


