"""Plan limits and usage: patients, therapists and records per month against the plan.

A limit is checked by `check_room(kind)` inside the write transaction that creates the row, so
two requests at once cannot both take the last place: on SQLite the transaction began IMMEDIATE
and holds the write lock; on PostgreSQL check_room first takes an advisory lock per clinic and
kind (db.transaction_lock), held until the commit.
"""
from datetime import datetime

from peewee import fn

from .clock import today
from .db.connection import database, is_postgres, transaction_lock
from .models import Clinic, MedicalRecord, Patient, Therapist, User
from .db.prepared import prepared
from .db.tenancy import all_clinics

LIMIT_LABELS = {"patients": "患者数", "therapists": "施術者数（有効）",
                "records_this_month": "今月の施術録数"}


class PlanLimitReached(Exception):
    """Creating one more row would pass the clinic's plan limit; the message is Japanese."""


def _month_start(day):
    """The first moment of day's month, as a datetime: created_at is a TIMESTAMP, and on
    PostgreSQL a date compared with it would not use the index under row-level security."""
    return datetime(day.year, day.month, 1)


def _counting_queries(month_start):
    return {
        "patients": Patient.select(fn.COUNT(Patient.id)),
        "therapists": Therapist.select(fn.COUNT(Therapist.id)).where(Therapist.status == "active"),
        "records_this_month": MedicalRecord.created_since(month_start),
        "staff": User.select(fn.COUNT(User.id)).where(User.is_active == True),  # noqa: E712
    }


def _prepared_count(kind, model):
    def build(cls, month_start):
        return _counting_queries(month_start)[kind].tuples()

    return prepared(build).__get__(None, model)


# The current clinic's count of each kind, compiled once (a record save checks its month's).
_COUNTS = {kind: _prepared_count(kind, query.model)
           for kind, query in _counting_queries(None).items()}


def _count(kind):
    return _COUNTS[kind](month_start=_month_start(today()))[0][0]


def limits(clinic):
    """{kind: limit or None (unlimited)} for a clinic; max_patients overrides the plan."""
    return {"patients": clinic.patient_limit, "therapists": clinic.plan.therapists,
            "records_this_month": clinic.plan.records_per_month}


def clinic_usage():
    """The current clinic's counts: patients, active therapists, records this month, staff."""
    return {kind: _count(kind) for kind in _COUNTS}


def check_room(kind):
    """Raise PlanLimitReached when the current clinic cannot have one more `kind`; call inside
    the write transaction that creates it (it holds the clinic's lock of `kind` till the end)."""
    clinic = Clinic.current()
    limit = limits(clinic)[kind]
    if limit is None:
        return
    transaction_lock(f"plan_limit_{kind}", clinic.id)  # PostgreSQL: one count at a time
    used = _count(kind)
    if used >= limit:
        raise PlanLimitReached(
            f"ご契約の{clinic.plan.label}プランでは{LIMIT_LABELS[kind]}の上限は{limit}です"
            f"（現在{used}）。プランの変更は運営までご連絡ください。")


def tenant_rows_by_clinic():
    """{clinic_id: its rows across every tenant table}: the basis of its share of the database.
    PostgreSQL: from karusaku_rows_per_clinic(), since the app's role sees one clinic at most."""
    from .models import TENANT_MODELS

    rows = {}
    if is_postgres():
        for clinic_id, count in database.execute_sql(
                "SELECT * FROM karusaku_rows_per_clinic()").fetchall():
            rows[clinic_id] = rows.get(clinic_id, 0) + count
        return rows
    with all_clinics():
        for model in TENANT_MODELS:
            counts = model.select(model.clinic, fn.COUNT(model.id)).group_by(model.clinic)
            for clinic_id, count in counts.tuples():
                rows[clinic_id] = rows.get(clinic_id, 0) + count
    return rows


def database_size_bytes():
    """The size of the whole database: page_count × page_size on SQLite."""
    if is_postgres():
        return database.execute_sql("SELECT pg_database_size(current_database())").fetchone()[0]
    pages = database.execute_sql("PRAGMA page_count").fetchone()[0]
    page_size = database.execute_sql("PRAGMA page_size").fetchone()[0]
    return pages * page_size


def counts_per_clinic():
    """{clinic_id: {kind: count}} for every clinic (patients, active therapists, records this
    month, active staff), each kind one grouped query. Counts only, no names. PostgreSQL: from
    karusaku_clinic_counts() (schema/postgresql/0009), which returns the same numbers."""
    month_start = _month_start(today())
    if is_postgres():
        cursor = database.execute_sql("SELECT * FROM karusaku_clinic_counts(%s)", (month_start,))
        kinds = [column.name for column in cursor.description][1:]
        return {row[0]: dict(zip(kinds, row[1:])) for row in cursor.fetchall()}
    result = {}
    with all_clinics():
        for kind, query in _counting_queries(month_start).items():
            model = query.model
            grouped = query.select(model.clinic, *query._returning).group_by(model.clinic)
            for clinic_id, count in grouped.tuples():
                result.setdefault(clinic_id, {})[kind] = count
    return result


def clinics_overview(clinics):
    """For the platform admin's list: per clinic its counts against its limits, its tenant rows
    and its share of them (percent); and the totals. Counts only, no names."""
    usage, rows = counts_per_clinic(), tenant_rows_by_clinic()
    all_rows = sum(rows.values())
    kinds = ("patients", "therapists", "records_this_month", "staff")
    entries, totals = [], {kind: 0 for kind in (*kinds, "rows")}
    for clinic in clinics:
        used = {kind: usage.get(clinic.id, {}).get(kind, 0) for kind in kinds}
        used["rows"] = rows.get(clinic.id, 0)
        for kind in totals:
            totals[kind] += used[kind]
        share = 100 * used["rows"] / all_rows if all_rows else 0.0
        entries.append({"clinic": clinic, "used": used, "limits": limits(clinic), "share": share})
    totals["share"] = 100 * totals["rows"] / all_rows if all_rows else 0.0
    return entries, totals


def clinic_overview(clinic):
    """One clinic's entry of clinics_overview (its counts, limits and share)."""
    entries, _ = clinics_overview([clinic])
    return entries[0]
