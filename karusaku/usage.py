"""How much of its plan a clinic uses: patients, therapists, records this month."""
from datetime import date

from peewee import fn

from .clock import today
from .models import MedicalRecord, Patient, Therapist, User
from .tenancy import all_clinics


def _month_start(day):
    return date(day.year, day.month, 1)


def _counted(model, where=None):
    query = model.select(fn.COUNT(model.id))
    return query.where(where) if where is not None else query


def clinic_usage():
    """The current clinic's counts: patients, active therapists, records this month, staff."""
    return {
        "patients": _counted(Patient).scalar(),
        "therapists": _counted(Therapist, Therapist.status == "active").scalar(),
        "records_this_month": _counted(
            MedicalRecord, MedicalRecord.visit_date >= _month_start(today())).scalar(),
        "staff": _counted(User, User.is_active == True).scalar(),  # noqa: E712
    }


def usage_by_clinic():
    """{clinic_id: counts} for every clinic, for the platform admin. Counts only, no names."""
    queries = {
        "patients": _counted(Patient),
        "therapists": _counted(Therapist, Therapist.status == "active"),
        "records_this_month": _counted(
            MedicalRecord, MedicalRecord.visit_date >= _month_start(today())),
        "staff": _counted(User, User.is_active == True),  # noqa: E712
    }
    result = {}
    with all_clinics():
        for key, query in queries.items():
            model = query.model
            for clinic_id, count in query.select_extend(model.clinic).group_by(model.clinic).tuples():
                result.setdefault(clinic_id, {}).update({key: count})
    return result
