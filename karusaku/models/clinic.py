"""Clinics and their subscription plans."""
from dataclasses import dataclass

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

    @classmethod
    def by_code(cls, code):
        return cls.get_or_none(cls.code == code)
