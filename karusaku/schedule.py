"""The schedule grid: rows of time slots, a column per therapist (day) or per day (week).

Each column is a list of cells, one per row: a free slot, the start of a block of appointments
spanning `rows` slots, or None where a block above covers the slot. Appointments that share a
slot (say 10:00–10:20 and 10:20–10:40 with 15-minute slots) share one block.
"""
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from .japanese import WEEKDAYS_JA, holiday_name


@dataclass(frozen=True)
class Cell:
    rows: int = 1
    appointments: tuple = ()

    @property
    def is_free(self):
        return not self.appointments


FREE = Cell()  # every free slot's cell: its place in the grid says which slot it is


@dataclass
class Column:
    label: str
    therapist_id: int
    day: date
    cells: list
    closed: bool = False
    outside_hours: list = field(default_factory=list)  # active appointments off the grid


@dataclass
class DayInfo:
    day: date
    holiday: str | None
    closed: bool

    @property
    def weekday(self):
        return WEEKDAYS_JA[self.day.weekday()]


def day_info(clinic, day):
    return DayInfo(day, holiday_name(day), clinic.closed_on(day))


def slot_starts(clinic, day):
    """The start of every slot of the day, from opening to closing time."""
    return [datetime.combine(day, t) for t in clinic.slot_times(day)]


def column(label, therapist_id, day, starts, slot_minutes, appointments, closed=False):
    """One column of cells over `starts` for the given appointments (cancelled ones left out)."""
    slot = timedelta(minutes=slot_minutes)
    active = sorted((a for a in appointments if a.is_active), key=lambda a: a.appointment_date)
    cells, i = [], 0
    if not starts:
        return Column(label, therapist_id, day, [], closed, active)
    grid_end = starts[-1] + slot
    outside = [a for a in active if a.ends_at <= starts[0] or a.appointment_date >= grid_end]
    pending = [a for a in active if a.ends_at > starts[0] and a.appointment_date < grid_end]
    p = 0  # pending is in time order: each block takes the next ones
    while i < len(starts):
        row_start = starts[i]
        if p == len(pending) or pending[p].appointment_date >= row_start + slot:
            cells.append(FREE)
            i += 1
            continue
        block, limit = [], row_start + slot
        # the appointments starting in this row, then those starting inside the block so far
        while p < len(pending) and pending[p].appointment_date < limit:
            block.append(pending[p])
            limit = max(limit, pending[p].ends_at)
            p += 1
        end = max(a.ends_at for a in block)
        rows = 1
        while i + rows < len(starts) and starts[i + rows] < end:
            rows += 1
        cells.append(Cell(rows, tuple(block)))
        cells.extend([None] * (rows - 1))
        i += rows
    return Column(label, therapist_id, day, cells, closed, outside)


def day_grid(clinic, day, therapists, appointments):
    """Columns for each therapist on one day."""
    starts = slot_starts(clinic, day)
    closed = clinic.closed_on(day)
    by_therapist = {}
    for appointment in appointments:
        by_therapist.setdefault(appointment.therapist_id, []).append(appointment)
    return starts, [column(t.name, t.id, day, starts, clinic.slot_minutes,
                           by_therapist.get(t.id, []), closed) for t in therapists]


def week_grid(clinic, first_day, therapist, appointments):
    """Columns for each day of a week for one therapist; rows are the clinic's hours."""
    days = [first_day + timedelta(days=n) for n in range(7)]
    times = clinic.slot_times(first_day)
    by_day = {}
    for appointment in appointments:
        by_day.setdefault(appointment.appointment_date.date(), []).append(appointment)
    columns = []
    for day in days:
        starts = [datetime.combine(day, t) for t in times]
        label = f"{day.month}/{day.day}({WEEKDAYS_JA[day.weekday()]})"
        columns.append(column(label, therapist.id, day, starts, clinic.slot_minutes,
                              by_day.get(day, []), clinic.closed_on(day)))
    return times, columns
