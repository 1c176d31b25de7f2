"""The day schedule, the week view, and booking, moving and checking in appointments."""
from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user

from .. import booking
from ..clock import today
from ..forms import FormReader, parse_integer
from ..forms.appointments import read_move_form
from ..forms.booking import read_request
from ..models import Appointment, MedicalRecord, Patient, Therapist
from ..models.appointments import ACTION_LABELS, REPEATS, BookingConflict, StatusNotAllowed
from ..models.plan_limits import PlanLimitReached
from ..schedule import day_grid, day_info, week_grid
from ..web import htmx
from ..web.access import get_or_404, names_object, require_staff, roles
from ..web.grid_html import GridHTML
from ..web.notices import notice
from ..web.refusals import answers_refusals

bp = Blueprint("schedule", __name__)
bp.before_request(require_staff)
names_object("appointment_id", Appointment)

BOOKERS = ("owner", "receptionist")


def _clinic():
    """The user's clinic, loaded with the user by the session (no extra query)."""
    return current_user.clinic


def _view_args():
    """The day and therapist filter asked for (?date=, ?therapist_id=); 422 for nonsense,
    404 for a therapist who is not there."""
    form = FormReader(request.values)
    day = form.date("date", "日付") if form.raw("date") else None
    therapist_id = form.integer("therapist_id", "施術者", minimum=1)
    if form.errors:
        abort(422, description=" ".join(form.errors.values()))
    therapist = get_or_404(Therapist, therapist_id) if therapist_id else None
    return day or today(), therapist


def _own_therapist():
    return Therapist.for_user(current_user.id) if current_user.role == "therapist" else None


def _day_context(day, therapist=None, moving=None):
    clinic = _clinic()
    active = Therapist.active()
    therapists = list(active) if therapist is None else [therapist]
    own = _own_therapist()
    if own in therapists:  # a therapist sees their own column first
        therapists.remove(own)
        therapists.insert(0, own)
    appointments = list(Appointment.for_day(day, therapist.id if therapist else None))
    starts, columns = day_grid(clinic, day, therapists, appointments)
    return dict(
        day=day, info=day_info(clinic, day), starts=starts, columns=columns, clinic=clinic,
        therapist=therapist, all_therapists=active, moving=moving,
        cancelled=[a for a in appointments if not a.is_active],
        can_book=current_user.role in BOOKERS, prev_day=day - timedelta(days=1),
        grid=GridHTML(therapist.id if therapist else None, current_user.role in BOOKERS, moving),
        next_day=day + timedelta(days=1), today=today(), action_labels=ACTION_LABELS,
    )


def _schedule_fragment(day, therapist=None, status=200, **headers):
    response = htmx.render("schedule/day.html", block="schedule", status=status,
                           **_day_context(day, therapist))
    response.headers.update(headers)
    return response


@bp.get("/schedule")
def day():
    day, therapist = _view_args()
    move_id = parse_integer(request.args.get("move"))
    moving = get_or_404(Appointment, move_id) if move_id is not None else None
    return htmx.render("schedule/day.html", block="schedule",
                       **_day_context(day, therapist, moving))


@bp.get("/schedule/week")
def week():
    day, therapist = _view_args()
    therapist = therapist or _own_therapist() or next(iter(Therapist.active()), None)
    if therapist is None:
        return htmx.render("schedule/week.html", block="week", therapist=None, columns=[],
                           times=[], all_therapists=[], day=day)
    first = day - timedelta(days=day.weekday())
    times, columns = week_grid(_clinic(), first, therapist,
                               Appointment.between(first, first + timedelta(days=6), therapist.id))
    return htmx.render("schedule/week.html", block="week", therapist=therapist, columns=columns,
                       times=times, all_therapists=list(Therapist.listing()), day=first,
                       prev_week=first - timedelta(days=7), next_week=first + timedelta(days=7),
                       can_book=current_user.role in BOOKERS,
                       grid=GridHTML(therapist.id, week=True))


def _booking_form(status=200, form=None, errors=None, **extra):
    values = dict(form or {})
    q = values.get("q", "").strip()
    picked_id = parse_integer(values.get("patient_id"))
    return htmx.render(
        "schedule/new.html", block="booking", status=status, form=values, errors=errors or {},
        therapists=Therapist.active(), repeats=REPEATS, q=q, pick_q=q,
        pick_matches=list(Patient.pick(q)) if q else [], pick_selected=picked_id,
        picked=Patient.with_id(picked_id) if picked_id else None, **extra)


@bp.get("/appointments/new")
@roles(*BOOKERS)
def new_appointment():
    values = {"duration_minutes": "30", **request.args.to_dict()}
    if "start" in values:
        values.setdefault("appointment_date", values.pop("start"))
    return _booking_form(form=values)


def _booking_again(status, errors):
    return _booking_form(status, request.form.to_dict(), errors)


@bp.post("/appointments")
@roles(*BOOKERS)
@answers_refusals(_booking_again,
                  on={BookingConflict: "appointment_date", PlanLimitReached: "patient_id"})
def book():
    wanted = read_request(request.form)
    if wanted.is_series and not request.form.get("confirm"):
        return _booking_form(form=request.form.to_dict(), series=booking.preview(wanted))
    booked, skipped = booking.book(wanted)
    first = booked[0]
    notice("booked", first, count=len(booked), skipped=[f"{s.start:%m/%d %H:%M}" for s in skipped])
    target = url_for("schedule.day", date=first.appointment_date.date().isoformat())
    if htmx.is_htmx():
        return _schedule_fragment(first.appointment_date.date(), status=201, **{
            "HX-Retarget": "#schedule", "HX-Reswap": "outerHTML", "HX-Push-Url": target})
    return redirect(target, code=303)


def _appointment_page(appointment, status=200, errors=None, form=None):
    return htmx.render(
        "schedule/appointment.html", status=status, appointment=appointment,
        errors=errors or {}, form=form or {}, history=list(appointment.history()),
        next_statuses=appointment.next_statuses(current_user.role), action_labels=ACTION_LABELS,
        therapists=Therapist.active(), can_book=current_user.role in BOOKERS,
        can_chart=current_user.role in ("owner", "therapist"),
        record=MedicalRecord.for_appointment(appointment.id))


@bp.get("/appointments/<int:appointment_id>")
def appointment(appointment_id):
    return _appointment_page(get_or_404(Appointment, appointment_id))


def _moved_again(status, errors, appointment_id):
    return _after_change(get_or_404(Appointment, appointment_id), status, errors,
                         FormReader(request.form).values())


@bp.post("/appointments/<int:appointment_id>")
@roles(*BOOKERS)
@answers_refusals(_moved_again, on={BookingConflict: "appointment_date"})
def move(appointment_id):
    appointment = get_or_404(Appointment, appointment_id)
    appointment.move(*read_move_form(request.form, appointment, _clinic()))
    flash("予約を変更しました。")
    return _after_change(appointment)


def _status_again(status, errors, appointment_id):
    return _after_change(get_or_404(Appointment, appointment_id), status, errors)


@bp.post("/appointments/<int:appointment_id>/status")
@answers_refusals(_status_again, on={StatusNotAllowed: "status", BookingConflict: "status"})
def set_status(appointment_id):
    appointment = get_or_404(Appointment, appointment_id)
    appointment.change_status(request.form.get("status", ""), current_user.role)
    return _after_change(appointment)


def _after_change(appointment, status=200, errors=None, form=None):
    """The grid again when the change came from it (htmx), else the appointment's page."""
    if htmx.wants_fragment() and request.headers.get("HX-Target") == "schedule":
        for message in (errors or {}).values():
            flash(message, "error")
        view_therapist = parse_integer(request.form.get("view_therapist_id"))
        therapist = Therapist.with_id(view_therapist) if view_therapist else None
        return _schedule_fragment(appointment.appointment_date.date(), therapist, status=status)
    if errors:
        return _appointment_page(appointment, status, errors, form)
    return htmx.see_other(url_for("schedule.appointment", appointment_id=appointment.id))
