"""Prepared queries (prepared.py): compiled once, run with new values, still scoped per clinic."""
from datetime import datetime, timedelta

import pytest

from karusaku.db.prepared import prepared
from karusaku.db.tenancy import NoClinicInContext, clinic_context
from karusaku.models import Appointment, Clinic, Patient
from karusaku.models.base import ClinicModel

from .conftest import every_clinic


def bind(query, model):
    """A prepared query as the classmethod of `model` it would be in a model's body."""
    return prepared(query).__get__(None, model)


def _named(cls, name):
    return cls.select(cls.id, cls.name).where(cls.name == name)


def _all(cls):
    return cls.select(cls.id, cls.name).order_by(cls.id)


def _from_time(cls, start, limit):
    return (cls.select(cls.id, cls.appointment_date).where(cls.appointment_date >= start)
            .order_by(cls.appointment_date).limit(limit))


class PatientQueries:
    _named = staticmethod(bind(_named, Patient))
    _all = staticmethod(bind(_all, Patient))


class AppointmentQueries:
    from_time = staticmethod(bind(_from_time, Appointment))


def test_each_run_sees_only_the_current_clinic(app, world):
    a, b = world["a"], world["b"]
    with app.app_context():
        with clinic_context(a.clinic.id):
            assert [p.name for p in PatientQueries._all()] == [a.patient.name]
        with clinic_context(b.clinic.id):  # the SQL compiled under A is reused under B
            assert [p.name for p in PatientQueries._all()] == [b.patient.name]
            assert PatientQueries._named(name=a.patient.name) == []
        with clinic_context(a.clinic.id):
            assert [p.id for p in PatientQueries._named(name=a.patient.name)] == [a.patient.id]


def test_no_clinic_in_context_fails_closed(app, world):
    with app.app_context():
        with clinic_context(world["a"].clinic.id):
            PatientQueries._all()  # compiled
        with pytest.raises(NoClinicInContext):
            PatientQueries._all()


def test_all_clinics_has_its_own_unscoped_form(app, world):
    a, b = world["a"], world["b"]
    with app.app_context():
        with clinic_context(a.clinic.id):
            assert len(PatientQueries._all()) == 1
        with every_clinic():
            names = {p.name for p in PatientQueries._all()}
        assert names == {a.patient.name, b.patient.name}
        with clinic_context(a.clinic.id):  # and the scoped form is still scoped
            assert len(PatientQueries._all()) == 1


def test_values_change_between_runs(app, world):
    a = world["a"]
    with app.app_context(), clinic_context(a.clinic.id):
        start = a.appointment.appointment_date
        later = [Appointment.create(patient=a.patient, therapist=a.therapist, duration_minutes=30,
                                    appointment_date=start + timedelta(days=d)) for d in (1, 2)]
        every = [a.appointment.id] + [x.id for x in later]
        assert [x.id for x in AppointmentQueries.from_time(start=start, limit=10)] == every
        assert [x.id for x in AppointmentQueries.from_time(start=start, limit=1)] == every[:1]
        after = start + timedelta(hours=1)
        rows = AppointmentQueries.from_time(start=after, limit=10)
        assert [x.id for x in rows] == every[1:]
        assert isinstance(rows[0].appointment_date, datetime)  # fields convert as usual


def test_with_id_is_scoped(app, world):
    a, b = world["a"], world["b"]
    with app.app_context():
        with clinic_context(a.clinic.id):
            assert Patient.with_id(a.patient.id).name == a.patient.name
            assert Patient.with_id(b.patient.id) is None
        with clinic_context(b.clinic.id):
            assert Patient.with_id(b.patient.id).name == b.patient.name
            assert Patient.with_id(a.patient.id) is None
        assert Clinic.with_id(a.clinic.id).code == a.clinic.code  # a platform table
        assert issubclass(Patient, ClinicModel)


def test_one_row_inserts_are_compiled_once_and_stored_as_peewee_would(app, world):
    from karusaku.db.prepared import PreparedInsert

    a = world["a"]
    with app.app_context(), clinic_context(a.clinic.id):
        first = Appointment.create(patient=a.patient, therapist=a.therapist, duration_minutes=45,
                                   appointment_date=datetime(2031, 5, 1, 10, 30), notes="一回目")
        shapes = {key for key in PreparedInsert._compiled if key[0] is Appointment}
        assert shapes  # the create went through the compiled form
        second = Appointment.create(patient=a.patient.id, therapist=a.therapist.id,
                                    duration_minutes=30, notes="二回目",
                                    appointment_date=datetime(2031, 5, 2, 9, 0))
        assert {key for key in PreparedInsert._compiled if key[0] is Appointment} == shapes
        assert second.id == first.id + 1
        stored = Appointment.with_id(second.id)
        assert (stored.appointment_date, stored.duration_minutes, stored.notes, stored.status,
                stored.patient_id, stored.clinic_id) == (
            datetime(2031, 5, 2, 9, 0), 30, "二回目", "booked", a.patient.id, a.clinic.id)


def test_an_insert_leaving_a_default_out_is_not_compiled(app, world):
    from karusaku.db.prepared import PreparedInsert

    a = world["a"]
    with app.app_context(), clinic_context(a.clinic.id):
        before = dict(PreparedInsert._compiled)
        new_id = Appointment.insert(patient=a.patient.id, therapist=a.therapist.id,
                                    duration_minutes=20,
                                    appointment_date=datetime(2031, 6, 1, 11, 0)).execute()
        assert PreparedInsert._compiled == before
        assert Appointment.with_id(new_id).status == "booked"  # the default, filled by peewee


def test_a_prepared_delete_is_scoped_and_counts_its_rows(app, world):
    from karusaku.models import RecordDraft

    a, b = world["a"], world["b"]
    owner = a.users["owner"]
    with app.app_context():
        with clinic_context(b.clinic.id):
            assert RecordDraft._discard_new(user_id=owner.id, patient_id=a.patient.id) == 0
        with clinic_context(a.clinic.id):
            assert RecordDraft.find(owner, a.patient.id) is not None  # B could not touch it
            assert RecordDraft._discard_new(user_id=owner.id, patient_id=a.patient.id) == 1
            assert RecordDraft.find(owner, a.patient.id) is None
