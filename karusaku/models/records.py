"""Visit records (施術録): writing, revising with a full revision each time, soft deletion,
drafts of what is being typed, and the clinic's templates (定型文).

Nothing is silently overwritten: every save appends a RecordRevision with the full content,
who and when; an edit carries the version it started from, so a save from a second tab that
did not see the first one's change is refused (EditConflict) instead of overwriting it.
"""
import json

from peewee import JOIN, SQL, fn

from ..body_chart import loads
from ..clock import now
from ..db.connection import database
from ..db.prepared import prepared
from .accounts import User
from .appointments import Appointment
from .audit import AuditLog
from .base import (
    CharField,
    ClinicModel,
    DateField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    TextField,
    created_at,
)
from .clinic import Clinic
from .patients import Patient
from .plan_limits import PlanCounted, check_room
from .therapists import Therapist

FIELDS = {
    "symptoms": "症状・主訴",
    "diagnosis": "所見・評価",
    "treatment": "施術内容",
    "prescription": "指導・セルフケア",
    "notes": "備考",
}
MAX_TEXT = 10000
CONTENT = ("therapist_id", "visit_date", *FIELDS, "body_chart")


class EditConflict(Exception):
    """The record was saved elsewhere after this edit began (409)."""


class NotAllowed(Exception):
    """The user may not do this to the record (403); the message is Japanese."""


def _content(row):
    """The content of a record or revision that a revision keeps, as plain values."""
    return {name: getattr(row, name) for name in CONTENT}


class MedicalRecord(PlanCounted, ClinicModel):
    clinic = ForeignKeyField(Clinic, column_name="clinic_id", backref="+")
    patient = ForeignKeyField(Patient, column_name="patient_id", backref="+")
    therapist = ForeignKeyField(Therapist, column_name="therapist_id", backref="+")
    appointment = ForeignKeyField(Appointment, column_name="appointment_id", null=True,
                                  backref="+")
    visit_date = DateField()
    symptoms = TextField(default="")
    diagnosis = TextField(default="")
    treatment = TextField(default="")
    prescription = TextField(default="")
    notes = TextField(default="")
    body_chart = TextField(default="[]")
    version = IntegerField(default=1)
    created_by = ForeignKeyField(User, column_name="created_by", null=True, backref="+")
    updated_by = IntegerField(null=True)
    created_at = created_at()
    updated_at = DateTimeField(default=now)
    deleted_at = DateTimeField(null=True)
    deleted_by = IntegerField(null=True)
    deleted_reason = TextField(default="")

    plan_kind = "records_this_month"

    class Meta:
        table_name = "medical_records"

    @property
    def is_deleted(self):
        return self.deleted_at is not None

    @property
    def marks(self):
        return loads(self.body_chart)

    def content(self):
        return _content(self)

    @classmethod
    def _with_names(cls):
        """Records with their therapist's name and author, newest visit first."""
        return (cls.select(cls, Therapist.name.alias("therapist_name"),
                           User.username.alias("author_username"),
                           User.display_name.alias("author_name"))
                .join(Therapist, on=(cls.therapist == Therapist.id))
                .switch(cls)
                .join(User, JOIN.LEFT_OUTER, on=(cls.created_by == User.id))
                .order_by(cls.visit_date.desc(), cls.id.desc()))

    @classmethod
    def chart_page(cls, patient_id, offset, limit, viewer=None):
        """One page of chart() (the chart screen's query, prepared): with the deleted records
        the viewer may still see, or none without a viewer."""
        include_deleted = viewer is not None and cls.shows_deleted_to(viewer)
        return cls._chart_page(patient_id=patient_id, include_deleted=include_deleted,
                               offset=offset, limit=limit)

    @prepared
    def _chart_page(cls, patient_id, include_deleted, offset, limit):
        return (cls._with_names()
                .where(cls.patient == patient_id, cls.deleted_at.is_null() | include_deleted)
                .offset(offset).limit(limit).objects())

    @classmethod
    def chart(cls, patient_id, first_day=None, last_day=None):
        """A patient's records that are not deleted, newest visit first, with therapist name
        and author (the printed chart)."""
        query = cls._with_names().where(cls.patient == patient_id, cls.deleted_at.is_null())
        if first_day:
            query = query.where(cls.visit_date >= first_day)
        if last_day:
            query = query.where(cls.visit_date <= last_day)
        return query.objects()

    @classmethod
    def visits_of(cls, patient_id, limit=50):
        """That a visit happened (date, therapist), without any clinical content."""
        return (cls.select(cls.id, cls.visit_date, Therapist.name.alias("therapist_name"))
                .join(Therapist, on=(cls.therapist == Therapist.id))
                .where(cls.patient == patient_id, cls.deleted_at.is_null())
                .order_by(cls.visit_date.desc(), cls.id.desc()).limit(limit).objects())

    @classmethod
    def last_for(cls, patient_id):
        return (cls.select().where(cls.patient == patient_id, cls.deleted_at.is_null())
                .order_by(cls.visit_date.desc(), cls.id.desc()).first())

    @classmethod
    def count_for_therapist(cls, therapist_id):
        """How many visit records name the therapist."""
        return cls.select().where(cls.therapist == therapist_id).count()

    @classmethod
    def for_appointment(cls, appointment_id):
        return cls.get_or_none(cls.appointment == appointment_id, cls.deleted_at.is_null())

    @classmethod
    def write(cls, patient, by, **fields):
        """A new record with its first revision; the plan's monthly limit is checked here."""
        with database.atomic():
            check_room(cls)
            record = cls.create(patient=patient, created_by=by, updated_by=by, **fields)
            RecordRevision.append(record, "created", by)
            RecordDraft.discard(by, patient.id, None)
            AuditLog.append("record_created", "record", record.id, {"patient_id": patient.id})
        return record

    def revise(self, by, expected_version, **fields):
        """Save an edit as a new revision; EditConflict when the record changed meanwhile."""
        with database.atomic():
            changes = {MedicalRecord._meta.fields[k]: v for k, v in fields.items()}
            saved = (MedicalRecord.update({**changes, MedicalRecord.version: expected_version + 1,
                                           MedicalRecord.updated_by: by.id,
                                           MedicalRecord.updated_at: now()})
                     .where(MedicalRecord.id == self.id, MedicalRecord.version == expected_version,
                            MedicalRecord.deleted_at.is_null())
                     .execute())
            if not saved:
                raise EditConflict("このカルテは別の画面で先に保存されました。"
                                   "保存されている内容を確かめてから、もう一度保存してください。")
            record = MedicalRecord.get_by_id(self.id)
            RecordRevision.append(record, "edited", by)
            RecordDraft.discard(by, record.patient_id, record.id)
            AuditLog.append("record_revised", "record", record.id,
                            {"patient_id": record.patient_id, "version": record.version})
        return record

    @staticmethod
    def shows_deleted_to(user):
        """A deleted record stays in the owners' history and is gone for everyone else."""
        return user.role == "owner"

    def visible_to(self, user):
        return not self.is_deleted or self.shows_deleted_to(user)

    def may_delete(self, user):
        return user.role == "owner" or self.created_by_id == user.id

    def soft_delete(self, by, reason):
        """Hide the record, keeping it and its history; only its author or an owner."""
        if not self.may_delete(by):
            raise NotAllowed("カルテを削除できるのは、書いた本人か院長だけです。")
        with database.atomic():
            MedicalRecord.update(deleted_at=now(), deleted_by=by.id, deleted_reason=reason,
                                 version=MedicalRecord.version + 1).where(
                MedicalRecord.id == self.id, MedicalRecord.deleted_at.is_null()).execute()
            record = MedicalRecord.get_by_id(self.id)
            RecordRevision.append(record, "deleted", by, reason=reason)
            AuditLog.append("record_deleted", "record", record.id,
                            {"patient_id": record.patient_id, "reason": reason})
        return record

    def revisions(self):
        return (RecordRevision.select(RecordRevision, User.username.alias("editor_username"),
                                      User.display_name.alias("editor_name"),
                                      Therapist.name.alias("therapist_name"))
                .join(User, JOIN.LEFT_OUTER, on=(RecordRevision.edited_by == User.id))
                .switch(RecordRevision)
                .join(Therapist, on=(RecordRevision.therapist == Therapist.id))
                .where(RecordRevision.record == self.id)
                .order_by(RecordRevision.revision).objects())

    @classmethod
    def created_since(cls, moment):
        return cls.select(fn.COUNT(cls.id)).where(cls.created_at >= moment)

    @classmethod
    def plan_counted(cls, month_start):
        return cls.created_since(month_start)


class RecordRevision(ClinicModel):
    """One saved state of a record: the full content, who saved it and when. Append-only."""

    clinic = ForeignKeyField(Clinic, column_name="clinic_id", backref="+")
    record = ForeignKeyField(MedicalRecord, column_name="record_id", backref="+")
    revision = IntegerField()
    action = CharField()
    therapist = ForeignKeyField(Therapist, column_name="therapist_id", backref="+")
    visit_date = DateField()
    symptoms = TextField(default="")
    diagnosis = TextField(default="")
    treatment = TextField(default="")
    prescription = TextField(default="")
    notes = TextField(default="")
    body_chart = TextField(default="[]")
    reason = TextField(default="")
    edited_by = ForeignKeyField(User, column_name="edited_by", null=True, backref="+")
    edited_at = DateTimeField()

    class Meta:
        table_name = "record_revisions"

    @prepared
    def _last_revision(cls, record_id):
        return cls.select(fn.MAX(cls.revision)).where(cls.record == record_id).tuples()

    @classmethod
    def append(cls, record, action, by, reason=""):
        number = (cls._last_revision(record_id=record.id)[0][0] or 0) + 1
        return cls.create(record=record.id, revision=number, action=action, reason=reason,
                          edited_by=by.id, edited_at=now(), **record.content())

    def content(self):
        return _content(self)

    @property
    def marks(self):
        return loads(self.body_chart)


class RecordDraft(ClinicModel):
    """What a user is typing into a record form, saved every few seconds by the form itself."""

    clinic = ForeignKeyField(Clinic, column_name="clinic_id", backref="+")
    user = ForeignKeyField(User, column_name="user_id", backref="+")
    patient = ForeignKeyField(Patient, column_name="patient_id", backref="+")
    record = ForeignKeyField(MedicalRecord, column_name="record_id", null=True, backref="+")
    base_version = IntegerField(null=True)
    content = TextField()
    updated_at = DateTimeField()

    class Meta:
        table_name = "record_drafts"

    @property
    def values(self):
        """The typed form fields (strings), as they were."""
        try:
            values = json.loads(self.content)
        except ValueError:
            return {}
        return {k: v for k, v in values.items() if isinstance(k, str) and isinstance(v, str)} \
            if isinstance(values, dict) else {}

    @classmethod
    def _where(cls, user, patient_id, record_id):
        record = cls.record.is_null() if record_id is None else (cls.record == record_id)
        return (cls.user == user.id) & (cls.patient == patient_id) & record

    @classmethod
    def find(cls, user, patient_id, record_id=None):
        return cls.get_or_none(cls._where(user, patient_id, record_id))

    @classmethod
    def form_key(cls):
        """The columns of idx_record_drafts_form: one draft per clinic, user, patient, record."""
        return [cls.clinic, cls.user, cls.patient, fn.COALESCE(cls.record, SQL("0"))]

    @classmethod
    def keep(cls, user, patient_id, record_id, values, base_version=None):
        """Save (or replace) the user's draft of this form, in one upsert: two saves at once
        both succeed, the later one's content stays."""
        changes = {cls.content: json.dumps(values, ensure_ascii=False), cls.updated_at: now(),
                   cls.base_version: base_version}
        (cls.insert({cls.user: user.id, cls.patient: patient_id, cls.record: record_id, **changes})
         .on_conflict(conflict_target=cls.form_key(), update=changes).execute())
        return cls.find(user, patient_id, record_id)

    @classmethod
    def discard(cls, user, patient_id, record_id=None):
        if record_id is None:  # every record save discards the new-record draft
            return cls._discard_new(user_id=user.id, patient_id=patient_id)
        return cls.delete().where(cls._where(user, patient_id, record_id)).execute()

    @prepared
    def _discard_new(cls, user_id, patient_id):
        return cls.delete().where(cls.user == user_id, cls.patient == patient_id,
                                  cls.record.is_null())


class RecordTemplate(ClinicModel):
    """A clinic's stock phrase (定型文) for one field of the record form."""

    clinic = ForeignKeyField(Clinic, column_name="clinic_id", backref="+")
    field = CharField()
    title = CharField()
    body = TextField()
    sort_order = IntegerField(default=0)
    created_at = created_at()

    class Meta:
        table_name = "record_templates"

    def revise(self, **fields):
        for name, value in fields.items():
            setattr(self, name, value)
        self.save()

    @classmethod
    def by_field(cls):
        """{field: [templates]} for the record form."""
        grouped = {name: [] for name in FIELDS}
        for template in cls.select().order_by(cls.field, cls.sort_order, cls.id):
            grouped.setdefault(template.field, []).append(template)
        return grouped

