"""The schedule grid's cells and appointment blocks as HTML, built in Python.

A day's grid has a few hundred cells. Rendered cell by cell in Jinja (a loop, tests, a macro
with url_for per cell) they were most of the schedule page's cost; here each cell is one
f-string, with every value escaped. The templates (schedule/day.html, week.html) lay out the
rest of the page and call `GridHTML.rows()` / `GridHTML.block()`: the day grid (a column per
therapist) and the week grid (a column per day) are the same rows.
"""
from flask import url_for
from markupsafe import Markup, escape

from .security import csrf_field
from .views import url_pattern

NEXT_STATUS = {"booked": ("arrived", "来院"), "arrived": ("completed", "完了")}


class GridHTML:
    """HTML pieces of one rendering of the grid.

    filter_id: the therapist the view is narrowed to (kept by the status buttons), or None.
    can_book: the user may book (free slots are links or move targets).
    moving: the appointment being moved, or None (free slots are then "move here" forms).
    week: the week grid (free slots are not links; a closed day's are marked closed).
    """

    def __init__(self, filter_id=None, can_book=False, moving=None, week=False):
        self.filter_id, self.can_book, self.moving = filter_id, can_book, moving
        self.week = week
        self.csrf = csrf_field()
        self.show_url = url_pattern("schedule.appointment", "appointment_id")
        self.status_url = url_pattern("schedule.set_status", "appointment_id")
        self.new_url = url_for("schedule.new_appointment")
        self.move_url = url_for("schedule.move", appointment_id=moving.id) if moving else None

    def rows(self, starts, columns):
        """The <tr> of every slot row: time, then each column's cell (none where a block
        above spans the slot). starts: datetimes (a day's slots) or times (a week's rows)."""
        free_cells = [self._free_cell(column) for column in columns]
        out = []
        for row, start in enumerate(starts):
            iso = start.isoformat(timespec="minutes")
            hhmm = iso[-5:]
            cells = [f'<tr><th class="time" scope="row">{hhmm}</th>']
            for column, free_cell in zip(columns, free_cells):
                cell = column.cells[row]
                if cell is None:
                    continue
                if not cell.appointments:
                    cells.append(free_cell(iso, hhmm))
                else:
                    blocks = "".join(self.block(a) for a in cell.appointments)
                    cells.append(f'<td class="busy" rowspan="{cell.rows}">{blocks}</td>')
            cells.append("</tr>")
            out.append("".join(cells))
        return Markup("\n".join(out))

    def _free_cell(self, column):
        """A function (slot start as ISO text, as HH:MM) -> that column's free cell. The parts
        that do not change from row to row are worked out once per column."""
        if self.week:
            free = '<td class="free closed"></td>' if column.closed else '<td class="free"></td>'
            return lambda iso, hhmm: free
        if column.closed or not self.can_book:
            return lambda iso, hhmm: '<td class="free"></td>'
        label = escape(column.label)
        if self.moving:
            head = (f'<td class="free"><form method="post" action="{self.move_url}" class="slot-form">'
                    f'{self.csrf}'
                    f'<input type="hidden" name="therapist_id" value="{column.therapist_id}">'
                    f'<input type="hidden" name="appointment_date" value="')
            middle = f'"><button type="submit" class="slot move" aria-label="{label} '
            tail = ' へ移動">ここへ</button></form></td>'
            return lambda iso, hhmm: "".join((head, iso, middle, hhmm, tail))
        href = f"{self.new_url}?therapist_id={column.therapist_id}&amp;start="
        head = f'<td class="free"><a class="slot" href="{href}'
        again = f'" hx-get="{href}'
        middle = f'" hx-target="#booking-panel" aria-label="{label} '
        tail = ' に予約">＋</a></td>'
        return lambda iso, hhmm: "".join((head, iso, again, iso, middle, hhmm, tail))

    def block(self, a):
        """One appointment: time, patient, status, and the next status's one-tap button."""
        new = '<small class="badge new">初診</small>' if a.patient_is_new else ""
        return Markup(
            f'<div class="block status-{escape(a.status)}">'
            f'<a class="block-link" href="{self.show_url.format(a.id)}">'
            f'<span class="block-time">{a.appointment_date:%H:%M}–{a.ends_at:%H:%M}</span>'
            f'<span class="block-patient">{escape(a.patient_name)}{new}</span>'
            f'<span class="block-status">{escape(a.status_label)}</span></a>'
            f'{self._status_button(a)}</div>')

    def _status_button(self, a):
        following = NEXT_STATUS.get(a.status)
        if following is None:
            return ""
        status, label = following
        url = self.status_url.format(a.id)
        keep = (f'<input type="hidden" name="view_therapist_id" value="{self.filter_id}">'
                if self.filter_id else "")
        return (f'<form method="post" action="{url}" hx-post="{url}" hx-target="#schedule" '
                f'hx-swap="outerHTML" class="inline">'
                f'{self.csrf}<input type="hidden" name="status" value="{status}">{keep}'
                f'<button type="submit" class="button small">{label}</button></form>')
