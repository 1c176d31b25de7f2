"""The clinics' usage against their plans: the owner's usage page and the platform admin's
overview (counts, tenant rows, share of the database). The limits themselves and their check
are the models' (models/plan_limits.py).
"""
from peewee import fn

from .clock import today
from .db.connection import database, is_postgres
from .db.tenancy import all_clinics
from .models import TENANT_MODELS, MedicalRecord, Patient, Therapist, User
from .models.plan_limits import limits, month_start

# What the usage pages count, in their order: patients, active therapists, records this month,
# active staff.
COUNTED = (Patient, Therapist, MedicalRecord, User)


def clinic_usage():
    """The current clinic's counts: patients, active therapists, records this month, staff."""
    return {model.plan_kind: model.plan_count() for model in COUNTED}


def tenant_rows_by_clinic():
    """{clinic_id: its rows across every tenant table}: the basis of its share of the database.
    PostgreSQL: from karusaku_rows_per_clinic(), since the app's role sees one clinic at most."""
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
    start = month_start(today())
    if is_postgres():
        cursor = database.execute_sql("SELECT * FROM karusaku_clinic_counts(%s)", (start,))
        kinds = [column.name for column in cursor.description][1:]
        return {row[0]: dict(zip(kinds, row[1:])) for row in cursor.fetchall()}
    result = {}
    with all_clinics():
        for model in COUNTED:
            query = model.plan_counted(start)
            grouped = query.select(model.clinic, *query._returning).group_by(model.clinic)
            for clinic_id, count in grouped.tuples():
                result.setdefault(clinic_id, {})[model.plan_kind] = count
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
