"""Plan limits and usage: patients, therapists and records per month against the plan.

A limit is checked by `check_room(kind)` inside the write transaction that creates the row, so
two requests at once cannot both take the last place.
"""
from datetime import date

from peewee import fn

from .clock import today
from .models import Clinic, MedicalRecord, Patient, Therapist, User
from .tenancy import all_clinics, current_clinic_id

LIMIT_LABELS = {"patients": "患者数", "therapists": "施術者数（有効）",
                "records_this_month": "今月の施術録数"}


class PlanLimitReached(Exception):
    """Creating one more row would pass the clinic's plan limit; the message is Japanese."""


def _month_start(day):
    return date(day.year, day.month, 1)


def _counting_queries():
    return {
        "patients": Patient.select(fn.COUNT(Patient.id)),
        "therapists": Therapist.select(fn.COUNT(Therapist.id)).where(Therapist.status == "active"),
        "records_this_month": MedicalRecord.created_since(_month_start(today())),
        "staff": User.select(fn.COUNT(User.id)).where(User.is_active == True),  # noqa: E712
    }


def limits(clinic):
    """{kind: limit or None (unlimited)} for a clinic; max_patients overrides the plan."""
    return {"patients": clinic.patient_limit, "therapists": clinic.plan.therapists,
            "records_this_month": clinic.plan.records_per_month}


def clinic_usage():
    """The current clinic's counts: patients, active therapists, records this month, staff."""
    return {kind: query.scalar() for kind, query in _counting_queries().items()}


def check_room(kind):
    """Raise PlanLimitReached when the current clinic cannot have one more `kind`."""
    clinic = Clinic.get_by_id(current_clinic_id())
    limit = limits(clinic)[kind]
    if limit is None:
        return
    used = _counting_queries()[kind].scalar()
    if used >= limit:
        raise PlanLimitReached(
            f"ご契約の{clinic.plan.label}プランでは{LIMIT_LABELS[kind]}の上限は{limit}です"
            f"（現在{used}）。プランの変更は運営までご連絡ください。")


def usage_by_clinic():
    """{clinic_id: counts} for every clinic, for the platform admin. Counts only, no names."""
    result = {}
    with all_clinics():
        for kind, query in _counting_queries().items():
            model = query.model
            for clinic_id, count in query.select_extend(model.clinic).group_by(model.clinic).tuples():
                result.setdefault(clinic_id, {})[kind] = count
    return result
