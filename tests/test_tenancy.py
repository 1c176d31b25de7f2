"""Tenant scoping: as clinic A, every query of a tenant model sees and touches only A's rows;
with no clinic in context it fails closed; the database itself refuses cross-clinic references."""
import contextlib
import io
import itertools
import tokenize
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path

import peewee
import pytest

from karusaku.clock import now, today
from karusaku.db.tenancy import NoClinicInContext, clinic_context
from karusaku.models import (
    TENANT_MODELS,
    Appointment,
    AuditLog,
    Clinic,
    MedicalRecord,
    Patient,
    RecordDraft,
    RecordRevision,
    RecordTemplate,
    Therapist,
    User,
)

from .conftest import ON_POSTGRES, every_clinic, run_sql

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "karusaku"

# A free-text column of each tenant table, for harmless updates and minimal inserts.
TEXT_FIELD = {User: "display_name", Patient: "address", Therapist: "specialty",
              Appointment: "notes", MedicalRecord: "notes", AuditLog: "detail",
              RecordRevision: "notes", RecordDraft: "content", RecordTemplate: "title"}
APPEND_ONLY = {AuditLog, RecordRevision}  # the database refuses their UPDATE
WRITABLE_MODELS = [m for m in TENANT_MODELS if m not in APPEND_ONLY]
_fresh_numbers = itertools.count(900)


def by_name(model):
    return model.__name__


@contextmanager
def inside(app, rows):
    """Run as the clinic of `rows` (a conftest ClinicRows)."""
    with app.app_context(), clinic_context(rows.clinic.id):
        yield


def ids_of(model, clinic_id):
    """The ids of a clinic's rows of model, read unscoped."""
    with every_clinic():
        return sorted(r.id for r in model.select(model.id).where(model.clinic == clinic_id))


def row_values(model, row_id):
    """A row's full contents, read unscoped (None when it is gone)."""
    with every_clinic():
        return model.select().where(model.id == row_id).dicts().get_or_none()


def total_rows():
    """Row count of every tenant table, read unscoped."""
    with every_clinic():
        return {model.__name__: model.select().count() for model in TENANT_MODELS}


def fresh_values(model, rows):
    """Column values for a new row of model in the clinic of `rows` that nothing refers to."""
    n = next(_fresh_numbers)
    return {
        User: lambda: {"username": f"fresh-{n}", "password": "not-a-hash", "role": "receptionist"},
        Patient: lambda: {"chart_number": n, "name": f"新患{n}", "name_kana": "シンカン"},
        Therapist: lambda: {"name": f"新任{n}"},
        Appointment: lambda: {"patient": rows.patient.id, "therapist": rows.therapist.id,
                              "appointment_date": datetime(2030, 1, 1, 9, 0),
                              "duration_minutes": 15, "notes": f"fresh {n}"},
        MedicalRecord: lambda: {"patient": rows.patient.id, "therapist": rows.therapist.id,
                                "visit_date": date(2030, 1, 1), "notes": f"fresh {n}"},
        RecordRevision: lambda: {"record": rows.record.id, "revision": n, "action": "edited",
                                 "therapist": rows.therapist.id, "visit_date": date(2030, 1, 1),
                                 "edited_at": datetime(2030, 1, 1, 9, 0), "notes": f"fresh {n}"},
        RecordDraft: lambda: {"user": rows.users["receptionist"].id, "patient": rows.patient.id,
                              "record": rows.record.id, "content": f"fresh {n}",
                              "updated_at": datetime(2030, 1, 1, 9, 0)},
        RecordTemplate: lambda: {"field": "notes", "title": f"fresh {n}", "body": "本文"},
    }[model]()


def fresh_row(app, model, rows):
    """A new, unreferenced row of model in the clinic of `rows`; returns its id."""
    with inside(app, rows):
        return model.create(**fresh_values(model, rows)).id


# --- reads ---------------------------------------------------------------------------------

@pytest.mark.parametrize("model", TENANT_MODELS, ids=by_name)
def test_select_returns_only_own_clinic_rows(app, world, model):
    a, b = world["a"], world["b"]
    with inside(app, a):
        seen = list(model.select())
        with every_clinic():
            total = model.select().count()
    assert {row.clinic_id for row in seen} == {a.clinic.id}
    assert sorted(row.id for row in seen) == ids_of(model, a.clinic.id)
    assert len(seen) + len(ids_of(model, b.clinic.id)) == total


@pytest.mark.parametrize("model", TENANT_MODELS, ids=by_name)
def test_other_clinic_row_is_not_found_by_id(app, world, model):
    b_id = ids_of(model, world["b"].clinic.id)[0]
    with inside(app, world["a"]):
        with pytest.raises(model.DoesNotExist):
            model.get_by_id(b_id)
        with pytest.raises(model.DoesNotExist):
            model.get(model.id == b_id)
        with pytest.raises(model.DoesNotExist):
            model[b_id]
        assert model.get_or_none(model.id == b_id) is None


@pytest.mark.parametrize("model", TENANT_MODELS, ids=by_name)
def test_count_and_exists_are_scoped(app, world, model):
    a_ids = ids_of(model, world["a"].clinic.id)
    b_id = ids_of(model, world["b"].clinic.id)[0]
    with inside(app, world["a"]):
        assert model.select().count() == len(a_ids)
        assert model.select().where(model.id == b_id).count() == 0
        assert not model.select().where(model.id == b_id).exists()
        assert model.select().where(model.id == a_ids[0]).exists()


def test_where_with_or_stays_inside_own_clinic(app, world):
    a_id, b_id = world["a"].patient.id, world["b"].patient.id
    with inside(app, world["a"]):
        found = [p.id for p in Patient.select().where((Patient.id == b_id) | (Patient.id == a_id))]
    assert found == [a_id]


def test_orwhere_is_refused(app, world):
    with inside(app, world["a"]):
        with pytest.raises(TypeError):
            Patient.select().where(Patient.id == world["a"].patient.id).orwhere(Patient.id > 0)


@pytest.mark.parametrize("model", TENANT_MODELS, ids=by_name)
def test_alias_is_refused(app, world, model):
    with inside(app, world["a"]):
        with pytest.raises(TypeError):
            model.alias()


def test_join_from_scoped_model_returns_only_own_rows(app, world):
    a = world["a"]
    with inside(app, a):
        rows = list(Appointment.select(Appointment, Patient).join(Patient))
    assert [r.id for r in rows] == ids_of(Appointment, a.clinic.id)
    assert {(r.clinic_id, r.patient.clinic_id) for r in rows} == {(a.clinic.id, a.clinic.id)}


def test_day_schedule_lists_only_own_appointments(app, world):
    a = world["a"]
    with inside(app, a):
        day = [appointment.id for appointment in Appointment.for_day(today())]
    assert day == [a.appointment.id]


def test_subquery_of_tenant_model_is_scoped(app, world):
    a = world["a"]
    with inside(app, a):  # Clinic is not a tenant table: only the subquery is scoped
        in_use = Patient.select(Patient.clinic)
        clinics = [c.id for c in Clinic.select().where(Clinic.id.in_(in_use))]
    assert clinics == [a.clinic.id]


def test_lazy_foreign_key_access_works(app, world):
    a = world["a"]
    with inside(app, a):
        record = MedicalRecord.get_by_id(a.record.id)
        assert record.patient.id == a.patient.id
        assert record.therapist.user.id == a.users["therapist"].id
        assert record.appointment.patient.name == a.patient.name


def test_lazy_foreign_key_access_outside_any_clinic_fails_closed(app, world):
    a = world["a"]
    with inside(app, a):
        appointment = Appointment.get_by_id(a.appointment.id)
    with app.app_context(), pytest.raises(NoClinicInContext):
        appointment.patient


# --- writes --------------------------------------------------------------------------------

@pytest.mark.parametrize("model", WRITABLE_MODELS, ids=by_name)
def test_update_of_all_rows_touches_only_own_clinic(app, world, model):
    a, b = world["a"], world["b"]
    field = TEXT_FIELD[model]
    b_before = {row_id: row_values(model, row_id) for row_id in ids_of(model, b.clinic.id)}
    with inside(app, a):
        changed = model.update({field: "changed by A"}).execute()
    assert changed == len(ids_of(model, a.clinic.id))
    assert {row_values(model, i)[field] for i in ids_of(model, a.clinic.id)} == {"changed by A"}
    assert {row_id: row_values(model, row_id) for row_id in b_before} == b_before


def test_audit_log_update_and_delete_are_refused(app, world):
    a = world["a"]
    before = {i: row_values(AuditLog, i) for i in ids_of(AuditLog, a.clinic.id)}
    # SQLite: the triggers; PostgreSQL: the app's role has no UPDATE or DELETE on it at all.
    error, message = ((peewee.ProgrammingError, "permission denied") if ON_POSTGRES
                      else (peewee.IntegrityError, "append-only"))
    with inside(app, a):
        with pytest.raises(error, match=message):
            AuditLog.update(detail="rewritten").execute()
        with pytest.raises(error, match=message):
            AuditLog.delete().execute()
    assert {i: row_values(AuditLog, i) for i in before} == before


@pytest.mark.parametrize("model", WRITABLE_MODELS, ids=by_name)
def test_delete_of_other_clinic_id_deletes_nothing(app, world, model):
    b = world["b"]
    b_id = fresh_row(app, model, b)
    with inside(app, world["a"]):
        assert model.delete().where(model.id == b_id).execute() == 0
    assert row_values(model, b_id) is not None
    with inside(app, b):  # the row was deletable all along, by its own clinic
        assert model.delete().where(model.id == b_id).execute() == 1


@pytest.mark.parametrize("model", WRITABLE_MODELS, ids=by_name)
def test_save_on_row_fetched_as_own_clinic_updates_it(app, world, model):
    a = world["a"]
    row_id = ids_of(model, a.clinic.id)[0]
    field = TEXT_FIELD[model]
    with inside(app, a):
        row = model.get_by_id(row_id)
        setattr(row, field, "saved by A")
        assert row.save() == 1
    assert row_values(model, row_id)[field] == "saved by A"


def test_save_of_other_clinic_row_changes_nothing(app, world):
    b = world["b"]
    before = row_values(Patient, b.patient.id)
    with app.app_context(), every_clinic():
        row = Patient.get_by_id(b.patient.id)
    row.address = "written as A"
    with inside(app, world["a"]):
        assert row.save() == 0
    assert row_values(Patient, b.patient.id) == before


CREATE_WAYS = {
    "create(clinic=B)": lambda m, v, b: m.create(**v, clinic=b).id,
    "create(clinic_id=B)": lambda m, v, b: m.create(**v, clinic_id=b).id,
    "insert(clinic=B)": lambda m, v, b: m.insert(**v, clinic=b).execute(),
    "insert(clinic_id=B)": lambda m, v, b: m.insert(**v, clinic_id=b).execute(),
    "insert({Model.clinic: B})": lambda m, v, b: m.insert({**v, m.clinic: b}).execute(),
    "Model(clinic=B).save()": lambda m, v, b: _save_new(m(**v, clinic=b)),
}


def _save_new(row):
    row.save()
    return row.id


@pytest.mark.parametrize("way", CREATE_WAYS)
@pytest.mark.parametrize("model", WRITABLE_MODELS, ids=by_name)
def test_row_created_as_own_clinic_ignores_other_clinic_passed_in(app, world, model, way):
    a, b = world["a"], world["b"]
    with inside(app, a):
        new_id = CREATE_WAYS[way](model, fresh_values(model, a), b.clinic.id)
    assert row_values(model, new_id)["clinic"] == a.clinic.id


UPDATE_CLINIC_KEYS = {"clinic": "clinic", "clinic_id": "clinic_id",
                      "Patient.clinic": Patient.clinic}


@pytest.mark.parametrize("key", UPDATE_CLINIC_KEYS.values(), ids=UPDATE_CLINIC_KEYS.keys())
def test_update_setting_other_clinic_leaves_row_in_own_clinic(app, world, key):
    a, b = world["a"], world["b"]
    patient_id = fresh_row(app, Patient, a)  # unreferenced, so no foreign key holds it in place
    with inside(app, a):
        with contextlib.suppress(TypeError):
            Patient.update({key: b.clinic.id, "phone": "03-0000-0000"}).where(
                Patient.id == patient_id).execute()
    assert row_values(Patient, patient_id)["clinic"] == a.clinic.id


def test_update_by_table_column_cannot_move_row_to_other_clinic(app, world):
    a, b = world["a"], world["b"]
    patient_id = fresh_row(app, Patient, a)
    with inside(app, a):
        with contextlib.suppress(TypeError):
            Patient.update({Patient._meta.table.clinic_id: b.clinic.id}).where(
                Patient.id == patient_id).execute()
    assert row_values(Patient, patient_id)["clinic"] == a.clinic.id


def test_save_setting_other_clinic_leaves_row_in_own_clinic(app, world):
    a, b = world["a"], world["b"]
    patient_id = fresh_row(app, Patient, a)
    with inside(app, a):
        patient = Patient.get_by_id(patient_id)
        patient.clinic = b.clinic.id
        patient.phone = "03-1111-1111"
        patient.save()
    after = row_values(Patient, patient_id)
    assert (after["clinic"], after["phone"]) == (a.clinic.id, "03-1111-1111")


INSERT_MANY_KEYS = {
    "no clinic": None,
    "clinic": "clinic",
    "clinic_id": "clinic_id",
    "Patient.clinic": Patient.clinic,
}


@pytest.mark.parametrize("key", INSERT_MANY_KEYS.values(), ids=INSERT_MANY_KEYS.keys())
def test_insert_many_of_dicts_gets_own_clinic(app, world, key):
    a, b = world["a"], world["b"]
    rows = [fresh_values(Patient, a) for _ in range(2)]
    if key is not None:
        rows = [{**row, key: b.clinic.id} for row in rows]
    with inside(app, a):
        with contextlib.suppress(TypeError):
            Patient.insert_many(rows).execute()
    numbers = [row["chart_number"] for row in rows]
    with app.app_context(), every_clinic():
        written = list(Patient.select().where(Patient.chart_number.in_(numbers)))
    assert {p.clinic_id for p in written} <= {a.clinic.id}


@pytest.mark.parametrize("fields", [["chart_number", "name", "name_kana"],
                                    [Patient.chart_number, Patient.name, Patient.name_kana]],
                         ids=["names", "Fields"])
def test_insert_many_of_tuples_gets_own_clinic(app, world, fields):
    a = world["a"]
    with inside(app, a):
        Patient.insert_many([(801, "甲", "コウ"), (802, "乙", "オツ")], fields=fields).execute()
    with app.app_context(), every_clinic():
        written = list(Patient.select().where(Patient.chart_number.in_([801, 802])))
    assert [p.clinic_id for p in written] == [a.clinic.id, a.clinic.id]


def test_bulk_create_gets_own_clinic(app, world):
    a, b = world["a"], world["b"]
    with inside(app, a):
        Patient.bulk_create([Patient(chart_number=804, name="丁", name_kana="テイ",
                                     clinic=b.clinic.id)])
    with app.app_context(), every_clinic():
        written = list(Patient.select().where(Patient.chart_number == 804))
    assert [p.clinic_id for p in written] == [a.clinic.id]


@pytest.mark.parametrize("clinic_field", ["clinic", Patient.clinic, "clinic_id"],
                         ids=["'clinic'", "Patient.clinic", "'clinic_id'"])
def test_insert_many_with_clinic_in_fields_never_writes_other_clinic(app, world, clinic_field):
    a, b = world["a"], world["b"]
    with inside(app, a):
        with contextlib.suppress(TypeError, peewee.PeeweeException):
            fields = [clinic_field, "chart_number", "name", "name_kana"]
            Patient.insert_many([(b.clinic.id, 803, "丙", "ヘイ")], fields=fields).execute()
    with app.app_context(), every_clinic():
        written = list(Patient.select().where(Patient.chart_number == 803))
    assert {p.clinic_id for p in written} <= {a.clinic.id}


def test_upsert_on_other_clinic_id_leaves_that_row_alone(app, world):
    b = world["b"]
    before = row_values(Patient, b.patient.id)
    with inside(app, world["a"]):
        with contextlib.suppress(TypeError, peewee.IntegrityError):
            (Patient.insert(id=b.patient.id, chart_number=99, name="上書き", name_kana="ウワガキ")
             .on_conflict(conflict_target=[Patient.id], update={Patient.name: "上書き"})
             .execute())
    assert row_values(Patient, b.patient.id) == before


def test_replace_on_other_clinic_id_leaves_that_row_alone(app, world):
    b = world["b"]
    patient_id = fresh_row(app, Patient, b)
    before = row_values(Patient, patient_id)
    with inside(app, world["a"]):
        with contextlib.suppress(TypeError, peewee.IntegrityError):
            Patient.replace(id=patient_id, chart_number=98, name="乗っ取り",
                            name_kana="ノットリ").execute()
    assert row_values(Patient, patient_id) == before



def test_replace_by_on_conflict_replace_leaves_other_clinic_row_alone(app, world):
    b = world["b"]
    patient_id = fresh_row(app, Patient, b)
    before = row_values(Patient, patient_id)
    with inside(app, world["a"]):
        with pytest.raises(TypeError):
            (Patient.insert(id=patient_id, chart_number=97, name="乗っ取り", name_kana="ノットリ")
             .on_conflict_replace().execute())
    assert row_values(Patient, patient_id) == before


@pytest.mark.parametrize("model", TENANT_MODELS, ids=by_name)
def test_raw_sql_on_a_tenant_model_is_refused_outside_all_clinics(app, world, model):
    table = model._meta.table_name
    with inside(app, world["a"]):
        with pytest.raises(TypeError):
            list(model.raw(f"SELECT * FROM {table}"))
        with every_clinic():
            seen = {row.clinic_id for row in model.raw(f"SELECT * FROM {table}")}
    assert seen == {world["a"].clinic.id, world["b"].clinic.id}


@pytest.mark.parametrize("empty", ["truncate_table", "drop_table"])
def test_truncate_and_drop_of_a_tenant_table_are_refused(app, world, empty):
    before = total_rows()
    with inside(app, world["a"]):
        with contextlib.suppress(peewee.DatabaseError):
            with pytest.raises(TypeError):
                getattr(RecordTemplate, empty)()
    assert total_rows() == before


def _draft_upsert(rows, content, **on_conflict):
    return (RecordDraft.insert(user=rows.users["owner"].id, patient=rows.patient.id, record=None,
                               content=content, updated_at=now())
            .on_conflict(**on_conflict).execute())


DRAFT_KEY = RecordDraft.form_key()


def test_upsert_keyed_by_clinic_updates_only_own_clinic_row(app, world):
    a, b = world["a"], world["b"]
    before = total_rows()
    other = row_values(RecordDraft, ids_of(RecordDraft, b.clinic.id)[0])
    with inside(app, a):
        _draft_upsert(a, "上書き", conflict_target=DRAFT_KEY,
                      update={RecordDraft.content: "上書き"})
        assert RecordDraft.find(a.users["owner"], a.patient.id).content == "上書き"
    assert total_rows() == before
    assert row_values(RecordDraft, other["id"]) == other


@pytest.mark.parametrize("on_conflict", [
    {"conflict_target": DRAFT_KEY[1:], "update": {RecordDraft.content: "x"}},
    {"conflict_target": DRAFT_KEY, "update": {RecordDraft.clinic: 1}},
    {"conflict_target": DRAFT_KEY, "preserve": ["clinic_id"]},
    {"conflict_constraint": "idx_record_drafts_form", "update": {RecordDraft.content: "x"}},
    {"action": "REPLACE"},
], ids=["no-clinic-in-target", "updates-clinic", "preserves-clinic", "named-constraint",
        "replace"])
def test_upsert_not_keyed_by_clinic_or_moving_clinic_is_refused(app, world, on_conflict):
    with inside(app, world["a"]):
        with pytest.raises(TypeError):
            _draft_upsert(world["a"], "x", **on_conflict)


def test_peewee_shortcuts_stay_inside_own_clinic(app, world):
    a, b = world["a"], world["b"]
    other = row_values(Patient, b.patient.id)
    with inside(app, a):
        assert {r.clinic_id for r in Patient.filter()} == {a.clinic.id}
        assert list(Patient.noop()) == []
        made, created = Patient.get_or_create(name=b.patient.name, defaults={
            "chart_number": 4242, "name_kana": "ヤマダ タロウ"})
        assert (made.clinic_id, created) == (a.clinic.id, True)
        Patient.bulk_update([Patient(id=b.patient.id, address="一括")], fields=[Patient.address])
        Patient.set_by_id(b.patient.id, {"address": "一括"})
        Patient.delete_by_id(b.patient.id)
    assert row_values(Patient, b.patient.id) == other

# --- no clinic in context: fail closed -----------------------------------------------------

def _minimal(model):
    return {TEXT_FIELD[model]: "x"}


NO_CLINIC_OPERATIONS = {
    "select": lambda m: list(m.select()),
    "count": lambda m: m.select().count(),
    "exists": lambda m: m.select().exists(),
    "get": lambda m: m.get(m.id == 1),
    "get_by_id": lambda m: m.get_by_id(1),
    "get_or_none": lambda m: m.get_or_none(m.id == 1),
    "update": lambda m: m.update(_minimal(m)).execute(),
    "delete": lambda m: m.delete().execute(),
    "insert": lambda m: m.insert(_minimal(m)).execute(),
    "insert_many": lambda m: m.insert_many([_minimal(m)]).execute(),
    "create": lambda m: m.create(**_minimal(m)),
}


@pytest.mark.parametrize("operation", NO_CLINIC_OPERATIONS)
@pytest.mark.parametrize("model", TENANT_MODELS, ids=by_name)
def test_tenant_query_with_no_clinic_raises_and_writes_nothing(app, world, model, operation):
    before = total_rows()
    with app.app_context():
        with pytest.raises(NoClinicInContext):
            NO_CLINIC_OPERATIONS[operation](model)
    assert total_rows() == before


def test_audit_append_with_no_clinic_raises_and_writes_nothing(app, world):
    before = total_rows()
    with app.app_context(), pytest.raises(NoClinicInContext):
        AuditLog.append("orphan_event")
    assert total_rows() == before


# --- the database refuses references across clinics ----------------------------------------

def insert_record_sql(clinic_id, patient_id, therapist_id, appointment_id=None, created_by=None):
    stamp = now()
    return run_sql(
        "INSERT INTO medical_records (clinic_id, patient_id, therapist_id, appointment_id,"
        " visit_date, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (clinic_id, patient_id, therapist_id, appointment_id, "2030-01-01", created_by,
         stamp, stamp))


def insert_appointment_sql(clinic_id, patient_id, therapist_id, created_by=None):
    stamp = now()
    return run_sql(
        "INSERT INTO appointments (clinic_id, patient_id, therapist_id, appointment_date,"
        " duration_minutes, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (clinic_id, patient_id, therapist_id, "2030-01-01 09:00:00", 30, created_by,
         stamp, stamp))


def insert_therapist_sql(clinic_id, user_id):
    stamp = now()
    return run_sql(
        "INSERT INTO therapists (clinic_id, name, user_id, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?)", (clinic_id, "越境", user_id, stamp, stamp))


def record_refs(rows):
    return {"patient_id": rows.patient.id, "therapist_id": rows.therapist.id,
            "appointment_id": rows.appointment.id, "created_by": rows.users["therapist"].id}


def raw_count(table):
    return run_sql(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


@pytest.mark.parametrize("column", ["patient_id", "therapist_id", "appointment_id", "created_by"])
def test_database_refuses_record_naming_other_clinic_row(app, world, column):
    a, b = world["a"], world["b"]
    refs = {**record_refs(a), column: record_refs(b)[column]}
    with app.app_context():
        before = raw_count("medical_records")
        with pytest.raises(peewee.IntegrityError, match="(?i)foreign key"):
            insert_record_sql(a.clinic.id, **refs)
        assert raw_count("medical_records") == before


def test_database_accepts_record_naming_own_clinic_rows(app, world):
    a = world["a"]
    with app.app_context():
        before = raw_count("medical_records")
        insert_record_sql(a.clinic.id, **record_refs(a))
        assert raw_count("medical_records") == before + 1


@pytest.mark.parametrize("column", ["patient_id", "therapist_id", "created_by"])
def test_database_refuses_appointment_naming_other_clinic_row(app, world, column):
    a, b = world["a"], world["b"]
    own = {"patient_id": a.patient.id, "therapist_id": a.therapist.id,
           "created_by": a.users["receptionist"].id}
    other = {"patient_id": b.patient.id, "therapist_id": b.therapist.id,
             "created_by": b.users["receptionist"].id}
    with app.app_context():
        insert_appointment_sql(a.clinic.id, **own)  # the same insert with A's ids is fine
        with pytest.raises(peewee.IntegrityError, match="(?i)foreign key"):
            insert_appointment_sql(a.clinic.id, **{**own, column: other[column]})


def test_database_refuses_therapist_linked_to_other_clinic_user(app, world):
    a, b = world["a"], world["b"]
    with app.app_context():
        insert_therapist_sql(a.clinic.id, a.users["receptionist"].id)
        with pytest.raises(peewee.IntegrityError, match="(?i)foreign key"):
            insert_therapist_sql(a.clinic.id, b.users["receptionist"].id)


def test_database_refuses_raw_update_pointing_record_at_other_clinic_patient(app, world):
    a, b = world["a"], world["b"]
    with app.app_context():
        with pytest.raises(peewee.IntegrityError, match="(?i)foreign key"):
            run_sql("UPDATE medical_records SET patient_id = ? WHERE id = ?",
                                 (b.patient.id, a.record.id))
        assert run_sql("SELECT patient_id FROM medical_records WHERE id = ?",
                                    (a.record.id,)).fetchone()[0] == a.patient.id


def test_database_refuses_raw_move_of_referenced_patient_to_other_clinic(app, world):
    a, b = world["a"], world["b"]
    with app.app_context():
        with pytest.raises(peewee.IntegrityError, match="(?i)foreign key"):
            run_sql(
                "UPDATE patients SET clinic_id = ?, chart_number = 999 WHERE id = ?",
                (b.clinic.id, a.patient.id))


# --- the code base -------------------------------------------------------------------------

def test_no_orwhere_call_anywhere_in_the_package():
    """`.orwhere(` would OR away the clinic scope; only code tokens count, not docstrings."""
    offenders = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline)
                  if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE,
                                    tokenize.INDENT, tokenize.DEDENT)]
        for dot, name, paren in zip(tokens, tokens[1:], tokens[2:]):
            if (dot.string, name.string, paren.string) == (".", "orwhere", "("):
                offenders.append(f"{path.relative_to(PACKAGE_DIR.parent)}:{dot.start[0]}")
    assert offenders == []
