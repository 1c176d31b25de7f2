"""Patients (患者): registration, search, the per-clinic chart number."""
from peewee import fn

from ..clock import now, today
from ..db import database
from ..forms import FormReader
from ..japanese import age_on, normalize_kana, normalize_phone
from .base import (
    BooleanField, CharField, ClinicModel, DateField, DateTimeField, ForeignKeyField,
    IntegerField, TextField, created_at,
)
from .clinic import Clinic

GENDERS = {"": "未回答", "女性": "女性", "男性": "男性", "その他": "その他"}
EDITABLE = ("name", "name_kana", "date_of_birth", "gender", "phone", "email", "address")


def read_patient_form(data, quick=False):
    """The patient fields of a submitted form, cleaned; raises forms.Invalid.

    quick: the booking form's quick registration (name, kana and phone only)."""
    form = FormReader(data)
    fields = {
        "name": form.text("name", "氏名", required=True, max_length=100),
        "name_kana": form.text("name_kana", "フリガナ", required=True, max_length=100),
        "phone": form.text("phone", "電話番号", max_length=30),
    }
    if fields["phone"] and len(normalize_phone(fields["phone"])) < 6:
        form.error("phone", "電話番号を確かめてください")
    if not quick:
        fields.update(
            date_of_birth=form.birth_date("date_of_birth"),
            gender=form.choice("gender", "性別", GENDERS, required=False) or "",
            email=form.text("email", "メールアドレス", max_length=200),
            address=form.text("address", "住所", max_length=300),
        )
        if fields["email"] and "@" not in fields["email"]:
            form.error("email", "メールアドレスを確かめてください")
    form.check()
    return fields


class Patient(ClinicModel):
    clinic = ForeignKeyField(Clinic, column_name="clinic_id", backref="+")
    chart_number = IntegerField()
    name = CharField()
    name_kana = CharField()
    kana_key = CharField(default="")
    date_of_birth = DateField(null=True)
    gender = CharField(default="")
    phone = CharField(default="")
    phone_digits = CharField(default="")
    email = CharField(default="")
    address = TextField(default="")
    is_new_patient = BooleanField(default=True)
    created_at = created_at()
    updated_at = DateTimeField(default=now)

    class Meta:
        table_name = "patients"

    def save(self, *args, **kwargs):
        self.kana_key = normalize_kana(self.name_kana or "")
        self.phone_digits = normalize_phone(self.phone or "")
        return super().save(*args, **kwargs)

    @property
    def age(self):
        return age_on(self.date_of_birth, today()) if self.date_of_birth else None

    @classmethod
    def next_chart_number(cls):
        """The clinic's next カルテ番号; call inside the write transaction that inserts."""
        return (cls.select(fn.MAX(cls.chart_number)).scalar() or 0) + 1

    @classmethod
    def register(cls, **fields):
        """A new patient with the next chart number, if the plan has room (else PlanLimitReached)."""
        from ..plans import check_room

        with database.atomic():
            check_room("patients")
            return cls.create(chart_number=cls.next_chart_number(), **fields)

    def revise(self, **fields):
        """Change the patient's own details (not the chart number)."""
        for key in EDITABLE:
            if key in fields:
                setattr(self, key, fields[key])
        self.updated_at = now()
        self.save()

    @classmethod
    def search(cls, q=""):
        """Patients matching q by name, kana (any script or width), phone digits or chart number."""
        query = cls.select().order_by(cls.kana_key, cls.id)
        q = (q or "").strip()
        if not q:
            return query
        conditions = [cls.name.contains(q)]
        kana = normalize_kana(q)
        if kana:
            conditions.append(cls.kana_key.contains(kana))
        digits = normalize_phone(q)
        if digits and len(digits) == len(kana):  # q is a number: a phone or a chart number
            conditions.append(cls.phone_digits.contains(digits))
            if len(digits) <= 9:
                conditions.append(cls.chart_number == int(digits))
        clause = conditions[0]
        for condition in conditions[1:]:
            clause = clause | condition
        return query.where(clause)

    def possible_duplicates(self):
        """Other patients with the same kana and date of birth, or the same phone number."""
        same = (self.kana_key != "") & (Patient.kana_key == self.kana_key)
        if self.date_of_birth:
            same = same & (Patient.date_of_birth == self.date_of_birth)
        else:
            same = same & Patient.date_of_birth.is_null()
        if self.phone_digits:
            same = same | (Patient.phone_digits == self.phone_digits)
        return Patient.select().where(same, Patient.id != self.id).order_by(Patient.chart_number)

    def refresh_new_patient_flag(self):
        """is_new_patient stays true until the patient's first completed visit."""
        from .appointments import Appointment

        completed = (Appointment.select().where(Appointment.patient == self.id,
                                                Appointment.status == "completed").exists())
        Patient.update(is_new_patient=not completed).where(Patient.id == self.id).execute()
