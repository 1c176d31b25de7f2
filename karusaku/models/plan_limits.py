"""Plan limits: patients, active therapists and records per month against the clinic's plan.

A limit is checked by `check_room(model)` inside the write transaction that creates the row, so
two requests at once cannot both take the last place: on SQLite the transaction began IMMEDIATE
and holds the write lock; on PostgreSQL check_room first takes an advisory lock per clinic and
kind (db.transaction_lock), held until the commit.
"""
from datetime import datetime

from ..clock import today
from ..db.connection import transaction_lock
from ..db.prepared import prepared
from .clinic import Clinic

LIMIT_LABELS = {"patients": "患者数", "therapists": "施術者数（有効）",
                "records_this_month": "今月の施術録数"}


class PlanLimitReached(Exception):
    """Creating one more row would pass the clinic's plan limit; the message is Japanese."""


def month_start(day):
    """The first moment of day's month, as a datetime: created_at is a TIMESTAMP, and on
    PostgreSQL a date compared with it would not use the index under row-level security."""
    return datetime(day.year, day.month, 1)


def limits(clinic):
    """{kind: limit or None (unlimited)} for a clinic; max_patients overrides the plan."""
    return {"patients": clinic.patient_limit, "therapists": clinic.plan.therapists,
            "records_this_month": clinic.plan.records_per_month}


class PlanCounted:
    """A tenant table counted against the plan: `plan_kind` names what it counts, and
    `plan_counted(month_start)` is the query counting the current clinic's rows of that kind."""

    plan_kind = None

    @classmethod
    def plan_counted(cls, month_start):
        raise NotImplementedError

    @prepared
    def _plan_count(cls, month_start):
        return cls.plan_counted(month_start).tuples()

    @classmethod
    def plan_count(cls):
        """The current clinic's count of plan_kind, compiled once (records: this month's)."""
        return cls._plan_count(month_start=month_start(today()))[0][0]


def check_room(model):
    """Raise PlanLimitReached when the current clinic cannot have one more row of `model` (a
    PlanCounted table); call inside the write transaction that creates it (it holds the
    clinic's lock of the kind till the end)."""
    clinic = Clinic.current()
    kind = model.plan_kind
    limit = limits(clinic)[kind]
    if limit is None:
        return
    transaction_lock(f"plan_limit_{kind}", clinic.id)  # PostgreSQL: one count at a time
    used = model.plan_count()
    if used >= limit:
        raise PlanLimitReached(
            f"ご契約の{clinic.plan.label}プランでは{LIMIT_LABELS[kind]}の上限は{limit}です"
            f"（現在{used}）。プランの変更は運営までご連絡ください。")
