"""Staff accounts, platform-admin accounts and their login sessions."""
from flask_login import UserMixin
from peewee import fn

from ..clock import now
from ..db.prepared import prepared
from ..db.tenancy import clinic_context
from .base import (
    BaseModel,
    BooleanField,
    CharField,
    ClinicModel,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    TextField,
    created_at,
)
from .clinic import Clinic
from .plan_limits import PlanCounted

ROLES = {"owner": "院長/管理者", "therapist": "施術者", "receptionist": "受付"}


class _Account(UserMixin):
    """What staff users and platform admins share as Flask-Login users."""

    session_token = None  # set when the account is loaded from (or logs in to) a session

    def get_id(self):
        return self.session_token

    @property
    def is_locked(self):
        return self.locked_until is not None and self.locked_until > now()

    @property
    def has_second_factor(self):
        return bool(self.totp_secret)

    @property
    def needs_second_factor(self):
        """True when the password alone does not log in: a second factor is set or required."""
        return self.has_second_factor or self.second_factor_required

    @property
    def recovery_codes_left(self):
        return len(self.recovery_codes.split())

    @property
    def device_key(self):
        """How a device cookie names this account: clinic and user, or platform admin."""
        if self.is_platform_admin:
            return f"admin/{self.id}"
        return f"{self.clinic_id}/{self.id}"


class User(_Account, PlanCounted, ClinicModel):
    clinic = ForeignKeyField(Clinic, column_name="clinic_id", backref="+")
    username = CharField()
    password = CharField()
    role = CharField()
    display_name = CharField(default="")
    is_active = BooleanField(default=True)
    failed_logins = IntegerField(default=0)
    locked_until = DateTimeField(null=True)
    created_at = created_at()
    last_login = DateTimeField(null=True)
    totp_secret = CharField(null=True)
    totp_pending_secret = CharField(null=True)
    totp_last_step = IntegerField(null=True)
    totp_failures = IntegerField(default=0)
    recovery_codes = TextField(default="")

    is_platform_admin = False
    plan_kind = "staff"  # counted for the usage page, not limited

    class Meta:
        table_name = "users"

    @property
    def role_label(self):
        return ROLES[self.role]

    @property
    def label(self):
        return self.display_name or self.username

    @property
    def second_factor_required(self):
        """The clinic's rule (set by its owner) says this user must have a second factor."""
        return self.clinic.requires_second_factor(self.role)

    @prepared(one=True)
    def with_clinic(cls, user_id):
        """The user with `user.clinic` loaded in the same query (every request's second)."""
        return cls.select(cls, Clinic).join(Clinic).where(cls.id == user_id)

    @classmethod
    def by_username(cls, username):
        return cls.get_or_none(cls.username == username)

    @classmethod
    def staff_list(cls):
        return cls.select().order_by(cls.is_active.desc(), cls.role, cls.username)

    @classmethod
    def plan_counted(cls, month_start):
        return cls.select(fn.COUNT(cls.id)).where(cls.is_active == True)  # noqa: E712

    @classmethod
    def active_owner_count(cls):
        return cls.select().where(cls.role == "owner", cls.is_active == True).count()  # noqa: E712

    @classmethod
    def owner_second_factors(cls, clinic_id):
        """(owners with a second factor, owners) of a clinic: counts only, for the operator."""
        with clinic_context(clinic_id):
            owners = cls.select().where(cls.role == "owner")
            return owners.where(cls.totp_secret.is_null(False)).count(), owners.count()


class PlatformAdmin(_Account, BaseModel):
    username = CharField(unique=True)
    password = CharField()
    is_active = BooleanField(default=True)
    failed_logins = IntegerField(default=0)
    locked_until = DateTimeField(null=True)
    created_at = created_at()
    last_login = DateTimeField(null=True)
    totp_secret = CharField(null=True)
    totp_pending_secret = CharField(null=True)
    totp_last_step = IntegerField(null=True)
    totp_failures = IntegerField(default=0)
    recovery_codes = TextField(default="")

    is_platform_admin = True
    clinic_id = None
    role = "platform_admin"
    second_factor_required = True  # always, for the operator

    class Meta:
        table_name = "platform_admins"

    @property
    def label(self):
        return self.username

    @classmethod
    def by_username(cls, username):
        return cls.get_or_none(cls.username == username)


class LoginSession(BaseModel):
    """A logged-in device. Not a tenant table: it is read before any clinic is known."""

    token_hash = CharField(unique=True)
    user = ForeignKeyField(User, column_name="user_id", null=True, backref="+")
    admin = ForeignKeyField(PlatformAdmin, column_name="admin_id", null=True, backref="+")
    clinic_id = IntegerField(null=True)  # the user's clinic, known before the user is loaded
    created_at = created_at()
    last_seen_at = DateTimeField()
    ip = CharField(default="")
    user_agent = CharField(default="")

    class Meta:
        table_name = "login_sessions"

    @prepared(one=True)
    def by_token_hash(cls, token_hash):  # every request's first query
        return cls.select().where(cls.token_hash == token_hash)

    @classmethod
    def end_all_for_user(cls, user_id):
        return cls.delete().where(cls.user == user_id).execute()

    @classmethod
    def end_all_for_admin(cls, admin_id):
        return cls.delete().where(cls.admin == admin_id).execute()
