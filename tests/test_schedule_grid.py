"""The grid builder (schedule.column): which slots are free and how appointments form blocks."""
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from karusaku.schedule import column

DAY = date(2026, 12, 1)


@dataclass
class Booking:
    appointment_date: datetime
    minutes: int
    is_active: bool = True

    @property
    def ends_at(self):
        return self.appointment_date + timedelta(minutes=self.minutes)


def at(hhmm):
    hours, minutes = map(int, hhmm.split(":"))
    return datetime(DAY.year, DAY.month, DAY.day, hours, minutes)


def layout(bookings, opens="10:00", slots=8, slot_minutes=15):
    """The column as text: '.' free, 'B<rows>:<n>' a block of n appointments, '|' covered."""
    starts = [at(opens) + timedelta(minutes=slot_minutes * n) for n in range(slots)]
    col = column("t", 1, DAY, starts, slot_minutes, bookings)
    text = []
    for cell in col.cells:
        text.append("|" if cell is None else "." if cell.is_free else
                    f"B{cell.rows}:{len(cell.appointments)}")
    return " ".join(text), col.outside_hours


def test_free_day():
    assert layout([])[0] == ". . . . . . . ."


def test_a_30_minute_booking_spans_two_slots():
    assert layout([Booking(at("10:15"), 30)])[0] == ". B2:1 | . . . . ."


def test_two_short_bookings_in_one_slot_share_a_block():
    assert layout([Booking(at("10:00"), 5), Booking(at("10:10"), 5)])[0] == "B1:2 . . . . . . ."


def test_a_booking_starting_inside_a_block_joins_it():
    cells, _ = layout([Booking(at("10:00"), 40), Booking(at("10:35"), 30)])
    assert cells == "B5:2 | | | | . . ."


def test_back_to_back_bookings_are_separate_blocks():
    cells, _ = layout([Booking(at("10:30"), 30), Booking(at("10:00"), 30)])  # any order in
    assert cells == "B2:1 | B2:1 | . . . ."


def test_cancelled_left_out_and_off_hours_listed():
    early, late = Booking(at("09:00"), 30), Booking(at("12:00"), 30)
    cells, outside = layout([Booking(at("10:00"), 15, is_active=False), early, late])
    assert cells == ". . . . . . . ."
    assert outside == [early, late]


def test_a_booking_running_past_closing_is_clipped_to_the_grid():
    assert layout([Booking(at("11:30"), 60)])[0] == ". . . . . . B2:1 |"
