"""Reports for owners: visits per month and per therapist, new versus returning patients and
the no-show rate, over a period of whole months.

Every number is counted by the database, one GROUP BY query per kind, and only over the
current clinic's rows: the tenant models add the clinic to each query (never all_clinics()).
"""
from dataclasses import dataclass, field
from datetime import date, datetime, time

from peewee import JOIN, SQL, PostgresqlDatabase, Select, fn

from .clock import today
from .db.connection import database
from .models import Appointment, MedicalRecord, Therapist

MAX_MONTHS = 60
DEFAULT_MONTHS = 12
COUNTED = ("arrived", "completed", "no_show")


def add_months(month, n):
    """The first day of the month n months after (or before) `month`'s."""
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def month_label(key):
    """'2026-04' -> '2026/04'."""
    return key.replace("-", "/")


@dataclass(frozen=True)
class Period:
    """Whole months from `first` to `last` inclusive (each the 1st of its month)."""

    first: date
    last: date

    @property
    def end(self):
        """The first day after the period."""
        return add_months(self.last, 1)

    @property
    def keys(self):
        """'YYYY-MM' of each month, oldest first."""
        count = (self.last.year - self.first.year) * 12 + self.last.month - self.first.month + 1
        return [f"{add_months(self.first, i):%Y-%m}" for i in range(count)]

    @property
    def label(self):
        return f"{self.first:%Y/%m}〜{self.last:%Y/%m}"

    def during(self, column, is_datetime=True):
        """SQL: column falls inside the period (a range, so the date indexes serve it)."""
        start, end = self.first, self.end
        if is_datetime:
            start, end = datetime.combine(start, time.min), datetime.combine(end, time.min)
        return (column >= start) & (column < end)


def default_period(on=None):
    """The last 12 months up to this month."""
    this_month = (on or today()).replace(day=1)
    return Period(add_months(this_month, 1 - DEFAULT_MONTHS), this_month)


def _month_of(column):
    """SQL: 'YYYY-MM' of a date or date-time column. SQLite keeps them as ISO text, whose
    first seven characters are the month (substr costs half of strftime, row for row)."""
    if isinstance(database.obj, PostgresqlDatabase):
        return fn.to_char(column, "YYYY-MM")
    return fn.substr(column, 1, 7)


def appointments_per_month(period):
    """{'YYYY-MM': {status: count}} of the period's appointments that the report counts:
    来院 (arrived), 完了 (completed) and 無断キャンセル (no_show)."""
    month = _month_of(Appointment.appointment_date)
    query = (Appointment.select(month, Appointment.status, fn.COUNT(Appointment.id))
             .where(Appointment.status.in_(COUNTED), period.during(Appointment.appointment_date))
             .group_by(month, Appointment.status).tuples())
    counts = {}
    for key, status, count in query:
        counts.setdefault(key, {})[status] = count
    return counts


def records_per_month(period):
    """{'YYYY-MM': count} of visit records by visit date, soft-deleted ones left out."""
    month = _month_of(MedicalRecord.visit_date)
    return dict(MedicalRecord.select(month, fn.COUNT(MedicalRecord.id))
                .where(period.during(MedicalRecord.visit_date, is_datetime=False),
                       MedicalRecord.deleted_at.is_null())
                .group_by(month).tuples())


def new_patients_per_month(period):
    """{'YYYY-MM': count} of patients whose first completed appointment ever falls in that
    month: the month's completed visits that are 新規 (the others are 再来)."""
    first_visit = fn.MIN(Appointment.appointment_date)
    firsts = (Appointment.select(Appointment.patient, first_visit.alias("first_visit"))
              .where(Appointment.status == "completed")
              .group_by(Appointment.patient)
              .having(period.during(first_visit))
              .alias("firsts"))
    month = _month_of(firsts.c.first_visit)  # the outer query reads only the scoped one
    return dict(Select([firsts], [month, fn.COUNT(SQL("*"))]).group_by(month)
                .bind(database).tuples())


@dataclass
class TherapistVisits:
    id: int
    name: str
    status: str
    visits: int

    @property
    def is_active(self):
        return self.status == "active"


def visits_per_therapist(period):
    """Completed appointments per therapist in the period, most first: every therapist with
    a visit in it (inactive ones too), and active therapists with none."""
    counted = (Appointment.select(Appointment.therapist, fn.COUNT(Appointment.id).alias("visits"))
               .where(Appointment.status == "completed",
                      period.during(Appointment.appointment_date))
               .group_by(Appointment.therapist)
               .alias("counted"))
    visits = fn.COALESCE(counted.c.visits, 0)
    query = (Therapist.select(Therapist.id, Therapist.name, Therapist.status, visits)
             .join(counted, JOIN.LEFT_OUTER, on=(counted.c.therapist_id == Therapist.id))
             .where((Therapist.status == "active") | counted.c.therapist_id.is_null(False))
             .order_by(visits.desc(), Therapist.id).tuples())
    return [TherapistVisits(*row) for row in query]


@dataclass
class Month:
    """One month's numbers (or, as the total row, the period's)."""

    key: str
    label: str
    completed: int = 0
    arrived: int = 0
    no_show: int = 0
    records: int = 0
    new: int = 0

    @property
    def returning(self):
        return self.completed - self.new

    @property
    def attended(self):
        """The denominator of the no-show rate: 来院 + 完了 + 無断キャンセル."""
        return self.arrived + self.completed + self.no_show

    @property
    def no_show_rate(self):
        """無断キャンセル ÷ (来院 + 完了 + 無断キャンセル), or None when there were none."""
        return self.no_show / self.attended if self.attended else None


@dataclass
class Report:
    period: Period
    months: list
    therapists: list
    total: Month = field(init=False)

    def __post_init__(self):
        self.total = Month("", "合計", **{name: sum(getattr(m, name) for m in self.months)
                                          for name in ("completed", "arrived", "no_show",
                                                       "records", "new")})


def build(period):
    """The whole report of a period: five queries, whatever its length."""
    statuses = appointments_per_month(period)
    records = records_per_month(period)
    new = new_patients_per_month(period)
    months = []
    for key in period.keys:
        counts = statuses.get(key, {})
        months.append(Month(key, month_label(key), completed=counts.get("completed", 0),
                            arrived=counts.get("arrived", 0), no_show=counts.get("no_show", 0),
                            records=records.get(key, 0), new=new.get(key, 0)))
    return Report(period, months, visits_per_therapist(period))


def percent(rate):
    """0.0833 -> '8.3%'; None -> '—'."""
    return "—" if rate is None else f"{rate * 100:.1f}%"
