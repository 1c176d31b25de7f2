"""Patients (患者): registration, search, the per-clinic chart number."""
import functools
import re

from peewee import OP, SQL, Expression, NodeList, Value, fn

from ..clock import now, today
from ..db.connection import database, transaction_lock
from ..db.prepared import prepared
from ..db.tenancy import current_clinic_id
from ..japanese import age_on, format_wareki, normalize_kana, normalize_phone
from .audit import AuditLog
from .base import (
    BooleanField,
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
from .plan_limits import PlanCounted, check_room

GENDERS = {"": "未回答", "女性": "女性", "男性": "男性", "その他": "その他"}
EDITABLE = ("name", "name_kana", "date_of_birth", "gender", "phone", "email", "address")
SEARCH_MAX_LENGTH = 100
PICK_LIMIT = 20
# A query that is a phone or chart number: digits with the separators people type in them.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NUMBER_QUERY = re.compile(r"[0-9()+\-\u2010-\u2015\u2212\u30fc]+")


def _search_terms(q):
    """The LIKE patterns and chart number a search for q compares, or None for an empty q."""
    # Control characters match no stored text (forms refuse them), and PostgreSQL refuses NUL.
    q = _CONTROL.sub("", q or "").strip()[:SEARCH_MAX_LENGTH]
    if not q:
        return None
    kana, digits = normalize_kana(q), normalize_phone(q)
    is_number = bool(digits) and bool(_NUMBER_QUERY.fullmatch(kana))
    return {"name": _contains(q), "kana": _contains(kana) if kana else None,
            "digits": _contains(digits) if is_number else None,
            "chart": int(digits) if is_number and kana.isdigit() and len(digits) <= 9 else None}


def _contains(text):
    """A LIKE pattern matching text anywhere, its own % _ and \\ taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + "%"


def _like(field, pattern):
    escape = Value("\\", converter=False)
    return Expression(field, OP.ILIKE, NodeList((pattern, SQL("ESCAPE"), escape)))


class Patient(PlanCounted, ClinicModel):
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

    plan_kind = "patients"

    class Meta:
        table_name = "patients"

    def save(self, *args, **kwargs):
        self.kana_key = normalize_kana(self.name_kana or "")
        self.phone_digits = normalize_phone(self.phone or "")
        return super().save(*args, **kwargs)

    @property
    def age(self):
        return age_on(self.date_of_birth, today()) if self.date_of_birth else None

    @property
    def wareki_birth_date(self):
        """The date of birth in 和暦 (昭和55年4月1日), or "" when unknown or before 明治."""
        try:
            return format_wareki(self.date_of_birth) if self.date_of_birth else ""
        except ValueError:
            return ""

    @classmethod
    def next_chart_number(cls):
        """The clinic's next カルテ番号; call inside the write transaction that inserts."""
        transaction_lock("chart_number", current_clinic_id())  # PostgreSQL: one at a time
        return (cls.select(fn.MAX(cls.chart_number)).scalar() or 0) + 1

    @classmethod
    def register(cls, **fields):
        """A new patient with the next chart number, if the plan has room (else PlanLimitReached)."""
        with database.atomic():
            check_room(cls)
            patient = cls.create(chart_number=cls.next_chart_number(), **fields)
            AuditLog.append("patient_created", "patient", patient.id)
            return patient

    def revise(self, **fields):
        """Change the patient's own details (not the chart number)."""
        changed = [key for key in EDITABLE if key in fields and getattr(self, key) != fields[key]]
        for key in EDITABLE:
            if key in fields:
                setattr(self, key, fields[key])
        self.updated_at = now()
        with database.atomic():
            self.save()
            AuditLog.append("patient_updated", "patient", self.id, {"fields": changed})

    @classmethod
    def search(cls, q="", page=1, per_page=50):
        """(how many patients match q, the rows of that page) by name, kana (any script or
        width), phone digits or chart number, in kana order. An empty q matches everyone."""
        terms = _search_terms(q)
        offset = (page - 1) * per_page
        if terms is None:
            rows = cls._page_of_all(limit=per_page, offset=offset)
            count = cls._count_all
        else:
            rows = cls._page_matching(**terms, limit=per_page, offset=offset)
            count = functools.partial(cls._count_matching, **terms)
        if rows:  # each row carries the count of every match (a window over the same scan)
            return rows[0].total, rows
        return (0 if page == 1 else count()[0][0]), rows

    @classmethod
    def pick(cls, q, limit=PICK_LIMIT):
        """Up to `limit` matches of q for the booking form's patient picker; none for an empty q."""
        terms = _search_terms(q)
        return [] if terms is None else cls._page_matching(**terms, limit=limit, offset=0)

    # One SQL shape for every search: a term that does not apply is NULL and matches nothing.
    @classmethod
    def _matches(cls, name, kana, digits, chart):
        return (_like(cls.name, name) | _like(cls.kana_key, kana)
                | _like(cls.phone_digits, digits) | (cls.chart_number == chart))

    @classmethod
    def _listed(cls):
        return cls.select(cls.id, cls.chart_number, cls.name, cls.name_kana, cls.date_of_birth,
                          cls.phone, cls.is_new_patient, fn.COUNT(cls.id).over().alias("total"))

    @prepared
    def _count_matching(cls, name, kana, digits, chart):
        return cls.select(fn.COUNT(cls.id)).where(cls._matches(name, kana, digits, chart)).tuples()

    @prepared
    def _page_matching(cls, name, kana, digits, chart, limit, offset):
        return (cls._listed().where(cls._matches(name, kana, digits, chart))
                .order_by(cls.kana_key, cls.id).limit(limit).offset(offset))

    @classmethod
    def plan_counted(cls, month_start):
        return cls.select(fn.COUNT(cls.id))

    @prepared
    def _count_all(cls):
        return cls.select(fn.COUNT(cls.id)).tuples()

    @prepared
    def _page_of_all(cls, limit, offset):
        return cls._listed().order_by(cls.kana_key, cls.id).limit(limit).offset(offset)

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
