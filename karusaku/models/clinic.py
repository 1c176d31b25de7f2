"""Clinics, their subscription plans and their settings (hours, closed days, slot length)."""
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from ..db.connection import database
from ..db.tenancy import clinic_context, current_clinic_id
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

    @classmethod
    def revise_settings(cls, clinic_id, **fields):
        """Change one clinic's settings (only SETTINGS_FIELDS) and log what changed."""
        from .audit import AuditLog  # audit.py imports this module (AuditLog.clinic)

        unknown = set(fields) - set(SETTINGS_FIELDS)
        if unknown:
            raise TypeError(f"not a clinic setting: {', '.join(sorted(unknown))}")
        with database.atomic():
            before = cls.get_by_id(clinic_id)
            changed = {key: [getattr(before, key), value] for key, value in fields.items()
                       if getattr(before, key) != value}
            cls.update(**fields).where(cls.id == clinic_id).execute()
            AuditLog.append("settings_changed", "clinic", clinic_id, {"changed": changed})

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

    # --- the platform admin's side: listing, plan and status ---------------------------------

    @classmethod
    def listing(cls):
        """Every clinic, oldest first (the platform admin's list)."""
        return cls.select().order_by(cls.id)

    @property
    def status_label(self):
        return CLINIC_STATUSES.get(self.status, self.status)

    def change_plan(self, subscription_plan, max_patients):
        """Set the plan and the patient limit override (None: the plan's limit); logs
        before/after in the platform audit log. Returns what changed ({} when nothing did)."""
        from .audit import PlatformAuditLog  # audit.py imports this module (AuditLog.clinic)

        wanted = {"subscription_plan": subscription_plan, "max_patients": max_patients}
        with database.atomic():
            before = Clinic.get_by_id(self.id)
            changed = {key: [getattr(before, key), value] for key, value in wanted.items()
                       if getattr(before, key) != value}
            if changed:
                Clinic.update(**wanted).where(Clinic.id == self.id).execute()
                PlatformAuditLog.append("clinic_plan_changed", "clinic", self.id,
                                        {"changed": changed})
        return changed

    def set_status(self, status):
        """Suspend or reactivate the clinic. Suspending ends every login session of its users.
        Logs before/after; returns False when the clinic already had that status."""
        from .accounts import LoginSession  # accounts.py imports this module (User.clinic)
        from .audit import PlatformAuditLog  # audit.py imports this module (AuditLog.clinic)

        if status not in CLINIC_STATUSES:
            raise ValueError(f"not a clinic status: {status}")
        with database.atomic():
            before = Clinic.get_by_id(self.id).status
            if before == status:
                return False
            Clinic.update(status=status).where(Clinic.id == self.id).execute()
            ended = 0
            if status != "active":
                ended = LoginSession.delete().where(LoginSession.clinic_id == self.id).execute()
            action = "clinic_reactivated" if status == "active" else "clinic_suspended"
            PlatformAuditLog.append(action, "clinic", self.id,
                                    {"status": [before, status], "sessions_ended": ended})
        return True

    def owner_second_factors(self):
        """(owners with a second factor, owners): counts only, for the operator's page."""
        from .accounts import User  # accounts.py imports this module (User.clinic)

        with clinic_context(self.id):
            owners = User.select().where(User.role == "owner")
            return owners.where(User.totp_secret.is_null(False)).count(), owners.count()

    def platform_history(self, limit=50):
        """The platform audit rows about this clinic, newest first."""
        from .audit import PlatformAuditLog  # audit.py imports this module (AuditLog.clinic)

        return (PlatformAuditLog.select()
                .where(PlatformAuditLog.object_type == "clinic",
                       PlatformAuditLog.object_id == self.id)
                .order_by(PlatformAuditLog.id.desc()).limit(limit))


CLINIC_STATUSES = {"active": "稼働中", "suspended": "停止中"}
MAX_PATIENTS_LIMIT = 100000


