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
                   "closed_weekdays", "slot_minutes", "second_factor_required")
# Who of the clinic's staff must log in with a second factor (the owner's choice).
SECOND_FACTOR_RULES = {"none": "求めない（各自の任意）", "owners": "院長/管理者に必須",
                       "staff": "全スタッフに必須"}


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
        from ..db.tenancy import current_clinic_id

        return cls.with_id(current_clinic_id())

    @classmethod
    def revise_settings(cls, clinic_id, by=None, ip="", **fields):
        """Change one clinic's settings (only SETTINGS_FIELDS) and log what changed."""
        from ..db.connection import database
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

    def change_plan(self, subscription_plan, max_patients, ip=""):
        """Set the plan and the patient limit override (None: the plan's limit); logs
        before/after in the platform audit log. Returns what changed ({} when nothing did)."""
        from ..db.connection import database
        from .audit import PlatformAuditLog

        wanted = {"subscription_plan": subscription_plan, "max_patients": max_patients}
        with database.atomic():
            before = Clinic.get_by_id(self.id)
            changed = {key: [getattr(before, key), value] for key, value in wanted.items()
                       if getattr(before, key) != value}
            if changed:
                Clinic.update(**wanted).where(Clinic.id == self.id).execute()
                PlatformAuditLog.append("clinic_plan_changed", "clinic", self.id,
                                        {"changed": changed}, ip=ip)
        return changed

    def set_status(self, status, ip=""):
        """Suspend or reactivate the clinic. Suspending ends every login session of its users.
        Logs before/after; returns False when the clinic already had that status."""
        from ..db.connection import database
        from .accounts import LoginSession
        from .audit import PlatformAuditLog

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
                                    {"status": [before, status], "sessions_ended": ended}, ip=ip)
        return True

    def owner_second_factors(self):
        """(owners with a second factor, owners): counts only, for the operator's page."""
        from ..db.tenancy import clinic_context
        from .accounts import User

        with clinic_context(self.id):
            owners = User.select().where(User.role == "owner")
            return owners.where(User.totp_secret.is_null(False)).count(), owners.count()

    def platform_history(self, limit=50):
        """The platform audit rows about this clinic, newest first."""
        from .audit import PlatformAuditLog

        return (PlatformAuditLog.select()
                .where(PlatformAuditLog.object_type == "clinic",
                       PlatformAuditLog.object_id == self.id)
                .order_by(PlatformAuditLog.id.desc()).limit(limit))


CLINIC_STATUSES = {"active": "稼働中", "suspended": "停止中"}
MAX_PATIENTS_LIMIT = 100000


def _max_patients(form):
    """The patient limit override: '' is None (the plan's limit), else 0..MAX_PATIENTS_LIMIT."""
    return form.integer("max_patients", "患者数の上限", minimum=0, maximum=MAX_PATIENTS_LIMIT)


def read_plan_form(data):
    """The platform admin's plan form: subscription_plan and max_patients; raises forms.Invalid."""
    form = FormReader(data)
    fields = {"subscription_plan": form.choice("subscription_plan", "プラン", PLANS),
              "max_patients": _max_patients(form)}
    form.check()
    return fields


def read_new_clinic_form(data):
    """A new clinic and its owner account as submitted by the platform admin, cleaned, with a
    message per bad field; raises forms.Invalid. The account rules are accounts.py's."""
    from ..accounts import CLINIC_CODE, USERNAME
    from ..passwords import password_problem

    form = FormReader(data)
    code = form.text("code", "医院コード", required=True, max_length=32).lower()
    if code and not CLINIC_CODE.match(code):
        form.error("code", "医院コードは英小文字・数字・ハイフンの2〜32文字にしてください")
    fields = {
        "code": code,
        "name": form.text("name", "医院名", required=True, max_length=100),
        "subscription_plan": form.choice("subscription_plan", "プラン", PLANS),
        "owner_username": form.text("owner_username", "院長のユーザー名", required=True,
                                    max_length=64),
        "address": form.text("address", "住所", max_length=200),
        "phone": form.text("phone", "電話番号", max_length=30),
        "email": form.text("email", "メールアドレス", max_length=200),
        "max_patients": _max_patients(form),
    }
    if fields["owner_username"] and not USERNAME.match(fields["owner_username"]):
        form.error("owner_username", "ユーザー名は半角英数字と . _ - の64文字以内にしてください")
    if fields["email"] and "@" not in fields["email"]:
        form.error("email", "メールアドレスを確かめてください")
    password = form.raw("owner_password")
    problem = password_problem(password)
    if problem:
        form.error("owner_password", problem)
    form.check()
    fields["owner_password"] = password
    return fields
