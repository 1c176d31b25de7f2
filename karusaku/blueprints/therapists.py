"""Therapists: list, new, edit, activate and deactivate."""
from flask import Blueprint, flash, request, url_for

from ..forms import FormReader
from ..forms.therapists import read_therapist_form
from ..models import Appointment, MedicalRecord, Therapist
from ..models.plan_limits import PlanLimitReached
from ..models.therapists import STATUSES
from ..web import htmx
from ..web.access import get_or_404, names_object, require_staff, roles
from ..web.refusals import answers_refusals

bp = Blueprint("therapists", __name__, url_prefix="/therapists")
bp.before_request(require_staff)
names_object("therapist_id", Therapist)

EMPTY_FORM = {"status": "active", "user_id": ""}


def _values(therapist):
    """A therapist's stored fields as the edit form shows them."""
    return {"name": therapist.name, "license_number": therapist.license_number,
            "specialty": therapist.specialty, "phone": therapist.phone,
            "email": therapist.email, "status": therapist.status,
            "user_id": str(therapist.user_id or "")}


def _account_options(therapist=None):
    """(value, label) of the login accounts the form offers, "なし" first."""
    options = [("", "なし")]
    for user in Therapist.account_choices(therapist):
        label = f"{user.username}（{user.display_name}）" if user.display_name else user.username
        options.append((str(user.id), f"{label}・{user.role_label}{'' if user.is_active else '・無効'}"))
    return options


def _list(status=200, message=None):
    return htmx.render("therapists/index.html", status=status, message=message,
                       therapists=Therapist.listing_with_accounts(), statuses=STATUSES)


def _new_page(status=200, form=None, errors=None, message=None):
    return htmx.render("therapists/new.html", status=status, form=form or EMPTY_FORM,
                       errors=errors or {}, message=message, statuses=STATUSES,
                       accounts=_account_options())


def _show(therapist, status=200, form=None, errors=None, message=None):
    return htmx.render("therapists/show.html", status=status, therapist=therapist,
                       form=form or _values(therapist), errors=errors or {}, message=message,
                       statuses=STATUSES, accounts=_account_options(therapist),
                       counts=_history_counts(therapist))


def _history_counts(therapist):
    """How many appointments (upcoming, all) and visit records name the therapist."""
    return {**Appointment.counts_for_therapist(therapist.id),
            "records": MedicalRecord.count_for_therapist(therapist.id)}


def _typed():
    return FormReader(request.form).values()


def _new_again(status, errors):
    """The form again: its messages per field, or the plan's limit above it (403)."""
    message = errors.pop("message", None)
    return _new_page(status, _typed(), errors, message)


def _show_again(status, errors, therapist_id):
    message = errors.pop("message", None)
    return _show(get_or_404(Therapist, therapist_id), status, _typed(), errors, message)


@bp.get("")
def index():
    return _list()


@bp.get("/new")
@roles("owner", "receptionist")
def new():
    return _new_page()


@bp.post("")
@roles("owner", "receptionist")
@answers_refusals(_new_again, on={PlanLimitReached: "message"})
def create():
    therapist = Therapist.add(**read_therapist_form(request.form))
    flash(f"施術者「{therapist.name}」を登録しました。")
    return htmx.see_other(url_for("therapists.show", therapist_id=therapist.id))


@bp.get("/<int:therapist_id>")
def show(therapist_id):
    return _show(get_or_404(Therapist, therapist_id))


@bp.post("/<int:therapist_id>")
@roles("owner", "receptionist")
@answers_refusals(_show_again, on={PlanLimitReached: "message"})
def update(therapist_id):
    therapist = get_or_404(Therapist, therapist_id)
    therapist.revise(**read_therapist_form(request.form, therapist))
    flash(f"施術者「{therapist.name}」を更新しました。")
    return htmx.see_other(url_for("therapists.show", therapist_id=therapist.id))


def _status_again(status, errors, therapist_id):
    """The list or the therapist's page again (where the change came from), the message on top."""
    message = errors.pop("message")
    if request.form.get("from") == "list":
        return _list(status, message)
    return _show(get_or_404(Therapist, therapist_id), status, message=message)


@bp.post("/<int:therapist_id>/status")
@roles("owner", "receptionist")
@answers_refusals(_status_again, on={PlanLimitReached: "message"})
def set_status(therapist_id):
    therapist = get_or_404(Therapist, therapist_id)
    status = request.form.get("status", "")
    back_to_list = request.form.get("from") == "list"
    if status not in STATUSES:
        message = "状態は「有効」か「無効」を選んでください。"
        return _list(422, message) if back_to_list else _show(therapist, 422, message=message)
    therapist.set_status(status)
    flash(f"施術者「{therapist.name}」を{STATUSES[status]}にしました。")
    if back_to_list:
        return htmx.see_other(url_for("therapists.index"))
    return htmx.see_other(url_for("therapists.show", therapist_id=therapist.id))
