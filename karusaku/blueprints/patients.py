"""Patients: list with live search, registration, details, editing."""
from flask import Blueprint, current_app, request, url_for
from flask_login import current_user

from ..forms import page_number
from ..forms.patients import read_patient_form
from ..models import Appointment, MedicalRecord, Patient
from ..models.patients import EDITABLE, GENDERS, SEARCH_MAX_LENGTH
from ..web import htmx
from ..web.access import get_or_404, names_object, require_staff, roles
from ..web.notices import notice
from ..web.refusals import answers_refusals

bp = Blueprint("patients", __name__, url_prefix="/patients")
bp.before_request(require_staff)
names_object("patient_id", Patient)

EDITORS = ("owner", "receptionist")


def _query():
    """The search text of the request, trimmed to what a search can use."""
    return request.args.get("q", "").strip()[:SEARCH_MAX_LENGTH]


def _typed():
    """What the user typed into the patient form, to put back into it."""
    return {key: request.form.get(key, "") for key in EDITABLE}


def _current(patient):
    """A patient's stored details as form values."""
    values = {key: getattr(patient, key) or "" for key in EDITABLE}
    values["date_of_birth"] = patient.date_of_birth.isoformat() if patient.date_of_birth else ""
    return values


def _form(patient=None, values=None, errors=None, status=200):
    return htmx.render("patients/form.html", block="form", status=status, patient=patient,
                       form=values or {}, errors=errors or {}, genders=GENDERS)


@bp.get("")
def index():
    q = _query()
    per_page = current_app.config["PER_PAGE"]
    page = page_number(request.args)
    total, patients = Patient.search(q, page, per_page)
    pages = (total + per_page - 1) // per_page
    if page > max(pages, 1):  # past the last page: show the last
        page = max(pages, 1)
        total, patients = Patient.search(q, page, per_page)
    return htmx.render("patients/index.html", block="results", q=q, total=total, page=page,
                       pages=pages, patients=patients, can_edit=current_user.role in EDITORS)


@bp.get("/pick")
def pick():
    q = _query()
    return htmx.render("patients/pick.html", block="results", pick_q=q,
                       pick_matches=Patient.pick(q))


@bp.get("/new")
@roles(*EDITORS)
def new():
    return _form(values={"gender": ""})


@bp.post("")
@roles(*EDITORS)
@answers_refusals(lambda status, errors: _form(values=_typed(), errors=errors, status=status))
def create():
    patient = Patient.register(**read_patient_form(request.form))
    notice("patient_registered", patient)
    return htmx.see_other(url_for("patients.show", patient_id=patient.id))


@bp.get("/<int:patient_id>")
def show(patient_id):
    patient = get_or_404(Patient, patient_id)
    return htmx.render("patients/show.html", patient=patient,
                       appointments=Appointment.upcoming_for(patient.id),
                       visits=Appointment.visit_count(patient.id),
                       can_edit=current_user.role in EDITORS,
                       visit_records=list(MedicalRecord.visits_of(patient.id)),
                       has_schedule="schedule.day" in current_app.view_functions)


@bp.get("/<int:patient_id>/edit")
@roles(*EDITORS)
def edit(patient_id):
    patient = get_or_404(Patient, patient_id)
    return _form(patient, _current(patient))


def _form_again(status, errors, patient_id):
    return _form(get_or_404(Patient, patient_id), _typed(), errors, status)


@bp.post("/<int:patient_id>")
@roles(*EDITORS)
@answers_refusals(_form_again)
def update(patient_id):
    patient = get_or_404(Patient, patient_id)
    patient.revise(**read_patient_form(request.form))
    notice("patient_updated", patient)
    return htmx.see_other(url_for("patients.show", patient_id=patient.id))
