"""The treatment room: a patient's chart, writing and revising visit records, drafts, history,
the print view, and the clinic's templates (定型文). Record content is for therapists and owners;
every read and write of it goes to the audit log."""
from flask import Blueprint, abort, flash, request, url_for
from flask_login import current_user

from ..body_chart import read_marks
from ..clock import today
from ..forms import FormReader, parse_integer
from ..forms.records import (
    read_delete_form,
    read_record_edit,
    read_record_form,
    read_template_form,
)
from ..models import (
    Appointment,
    AuditLog,
    Clinic,
    MedicalRecord,
    Patient,
    RecordDraft,
    RecordTemplate,
    Therapist,
)
from ..models.records import FIELDS, MAX_TEXT
from ..web import htmx
from ..web.access import get_or_404, names_object, require_staff, roles
from ..web.refusals import answers_refusals

bp = Blueprint("records", __name__)
bp.before_request(require_staff)
names_object("record_id", MedicalRecord)
names_object("template_id", RecordTemplate)

CLINICAL = ("owner", "therapist")
CHART_PAGE = 10  # records per page of the chart
COMPARED_VISITS = 6  # body charts shown side by side
FORM_FIELDS = ("therapist_id", "visit_date", "appointment_id", *FIELDS)


def _record_or_404(record_id):
    """A record of this clinic; a deleted one only for owners (it stays in their history)."""
    record = get_or_404(MedicalRecord, record_id)
    if not record.visible_to(current_user):
        abort(404)
    return record


def _read(action, object_type, object_id, **detail):
    AuditLog.append(action, object_type, object_id, detail or None)


# --- the chart ----------------------------------------------------------------------------

@bp.get("/patients/<int:patient_id>/records")
@roles(*CLINICAL)
def chart(patient_id):
    patient = get_or_404(Patient, patient_id)
    page = FormReader(request.args).integer("page", "ページ", minimum=1, maximum=10**6) or 1
    records = MedicalRecord.chart_page(patient.id, (page - 1) * CHART_PAGE, CHART_PAGE + 1,
                                       viewer=current_user)
    more, records = len(records) > CHART_PAGE, records[:CHART_PAGE]
    _read("chart_viewed", "patient", patient.id, page=page)
    if page > 1:  # the next records under the first page's ("さらに表示")
        return htmx.render("records/chart.html", block="more_records", patient=patient,
                           records=records, page=page, more=more, fields=FIELDS)
    upcoming = Appointment.upcoming_for(patient.id, limit=1)
    recent = [r for r in records if r.deleted_at is None][:COMPARED_VISITS]
    if len(recent) < COMPARED_VISITS and more:  # deleted ones took the first page's places
        recent = MedicalRecord.chart_page(patient.id, 0, COMPARED_VISITS)
    return htmx.render("records/chart.html", patient=patient, records=records, page=page,
                       more=more, next_appointment=upcoming[0] if upcoming else None,
                       recent=recent, last=recent[0] if recent else None, fields=FIELDS)


@bp.get("/patients/<int:patient_id>/records/print")
@roles(*CLINICAL)
def print_chart(patient_id):
    patient = get_or_404(Patient, patient_id)
    form = FormReader(request.args)
    first, last = form.date("from", "開始日"), form.date("to", "終了日")
    if form.errors:
        abort(422, description=" ".join(form.errors.values()))
    records = list(MedicalRecord.chart(patient.id, first_day=first, last_day=last))
    records.reverse()  # on paper, oldest first
    _read("chart_printed", "patient", patient.id,
          **{"from": str(first or ""), "to": str(last or "")})
    return htmx.render("records/print.html", patient=patient, records=records, first=first,
                       last=last, fields=FIELDS, clinic=Clinic.current(),
                       printed_on=today())


# --- writing ------------------------------------------------------------------------------

def _form_page(patient, record=None, values=None, errors=None, status=200, **extra):
    values = values or {}
    return htmx.render(
        "records/form.html", block="record_form", status=status, patient=patient, record=record,
        form=values, errors=errors or {}, fields=FIELDS, max_text=MAX_TEXT,
        marks=read_marks(FormReader(values)),
        therapists=Therapist.active(), templates=RecordTemplate.by_field(),
        last=MedicalRecord.last_for(patient.id), **extra)


def _new_values(patient):
    """What a new record form starts with: from the appointment, or a copy of a past visit."""
    own = Therapist.for_user(current_user.id)
    values = {"visit_date": today().isoformat(), "therapist_id": str(own.id) if own else ""}
    appointment_id = parse_integer(request.args.get("appointment_id"))
    if appointment_id is not None:
        appointment = Appointment.get_or_none(Appointment.id == appointment_id,
                                              Appointment.patient == patient.id)
        if appointment is not None:
            values.update(appointment_id=str(appointment.id),
                          therapist_id=str(appointment.therapist_id),
                          visit_date=appointment.appointment_date.date().isoformat())
    copy_from = parse_integer(request.args.get("copy_from"))
    if copy_from is not None:
        source = MedicalRecord.get_or_none(MedicalRecord.id == copy_from,
                                           MedicalRecord.patient == patient.id,
                                           MedicalRecord.deleted_at.is_null())
        if source is not None:
            values.update({name: getattr(source, name) for name in FIELDS})
            values.update(_mark_values(source.marks))
            values["copied_from"] = source.visit_date.isoformat()
    return values


def _mark_values(marks):
    return {f"mark-{mark['region']}": mark["kind"] for mark in marks}


@bp.get("/patients/<int:patient_id>/records/new")
@roles(*CLINICAL)
def new(patient_id):
    patient = get_or_404(Patient, patient_id)
    draft = None if request.args.get("copy_from") else RecordDraft.find(current_user, patient.id)
    values = _new_values(patient)
    if draft:  # the draft's text, but the appointment the form was opened from wins
        opened_from = {k: values[k] for k in ("appointment_id", "therapist_id", "visit_date")
                       if k in values and request.args.get("appointment_id")}
        values = {**draft.values, **opened_from}
    return _form_page(patient, values=values, draft=draft)


def _new_again(status, errors, patient_id):
    return _form_page(get_or_404(Patient, patient_id), values=_typed(), errors=errors,
                      status=status)


@bp.post("/patients/<int:patient_id>/records")
@roles(*CLINICAL)
@answers_refusals(_new_again)
def create(patient_id):
    patient = get_or_404(Patient, patient_id)
    record = MedicalRecord.write(patient, current_user, **read_record_form(request.form, patient))
    return _saved(record, "施術録を保存しました。")


@bp.get("/records/<int:record_id>/edit")
@roles(*CLINICAL)
def edit(record_id):
    record = _record_or_404(record_id)
    if record.is_deleted:
        abort(404)
    draft = RecordDraft.find(current_user, record.patient_id, record.id)
    if draft and draft.base_version == record.version:
        values = draft.values
    else:
        values = {**_stored_values(record), "version": str(record.version)}
        draft = None
    return _form_page(record.patient, record, values, draft=draft)


def _stored_values(record):
    return {"therapist_id": str(record.therapist_id), "visit_date": record.visit_date.isoformat(),
            "appointment_id": str(record.appointment_id or ""),
            **{name: getattr(record, name) for name in FIELDS}, **_mark_values(record.marks)}


def _edit_again(status, errors, record_id):
    """The edit form again; after a conflict (409) with the saved record beside it, the typed
    text kept as a draft, and the version of the saved record (saving again is meant)."""
    current, values = MedicalRecord.get_by_id(record_id), _typed()
    if status == 409:
        values["version"] = str(current.version)
        RecordDraft.keep(current_user, current.patient_id, current.id, values, current.version)
        return _form_page(current.patient, current, values, errors, 409, conflict=current)
    if "version" in errors:
        errors["form"] = "フォームが古くなっています。施術録を開き直してください。"
    return _form_page(current.patient, current, values, errors, status)


@bp.post("/records/<int:record_id>")
@roles(*CLINICAL)
@answers_refusals(_edit_again)
def update(record_id):
    record = _record_or_404(record_id)
    if record.is_deleted:
        abort(404)
    version, fields = read_record_edit(request.form, record.patient)
    record = record.revise(current_user, version, **fields)
    return _saved(record, "施術録を更新しました。")


def _saved(record, message):
    """The saved record in place of the form (htmx), or a redirect to it."""
    target = url_for("records.show", record_id=record.id)
    if htmx.wants_fragment():
        flash(message)
        response = _record_page(record)
        response.headers["HX-Push-Url"] = target
        return response
    flash(message)
    return htmx.see_other(target)


def _typed():
    """What the user typed, to give back (and to keep as a draft)."""
    return {key: value for key, value in request.form.items()
            if key != "csrf_token" and (key in FORM_FIELDS or key.startswith("mark-")
                                        or key == "version")}


# --- drafts -------------------------------------------------------------------------------

@bp.post("/patients/<int:patient_id>/records/draft")
@roles(*CLINICAL)
def save_draft(patient_id):
    patient = get_or_404(Patient, patient_id)
    return _keep_draft(patient.id, None, None)


@bp.post("/records/<int:record_id>/draft")
@roles(*CLINICAL)
def save_edit_draft(record_id):
    record = _record_or_404(record_id)
    version = FormReader(request.form).integer("version", "版", minimum=1)
    return _keep_draft(record.patient_id, record.id, version)


def _keep_draft(patient_id, record_id, base_version):
    values = _typed()
    if sum(len(v) for v in values.values()) > MAX_TEXT * (len(FIELDS) + 2):
        return htmx.render("records/_draft_status.html", status=422, error="下書きが大きすぎます")
    draft = RecordDraft.keep(current_user, patient_id, record_id, values, base_version)
    return htmx.render("records/_draft_status.html", draft=draft)


@bp.post("/patients/<int:patient_id>/records/draft/discard")
@roles(*CLINICAL)
def discard_draft(patient_id):
    patient = get_or_404(Patient, patient_id)
    record_id = parse_integer(request.form.get("record_id"))
    record = _record_or_404(record_id) if record_id is not None else None
    RecordDraft.discard(current_user, patient.id, record.id if record else None)
    flash("下書きを破棄しました。")
    target = (url_for("records.edit", record_id=record.id) if record
              else url_for("records.new", patient_id=patient.id))
    return htmx.see_other(target)


# --- reading ------------------------------------------------------------------------------

def _record_page(record, status=200):
    return htmx.render("records/show.html", block="record", status=status, record=record,
                       patient=record.patient, fields=FIELDS,
                       may_delete=record.may_delete(current_user))


@bp.get("/records/<int:record_id>")
@roles(*CLINICAL)
def show(record_id):
    record = _record_or_404(record_id)
    _read("record_viewed", "record", record.id, patient_id=record.patient_id)
    return _record_page(record)


@bp.get("/records/<int:record_id>/history")
@roles(*CLINICAL)
def history(record_id):
    record = _record_or_404(record_id)
    _read("record_history_viewed", "record", record.id, patient_id=record.patient_id)
    return htmx.render("records/history.html", record=record, patient=record.patient,
                       revisions=list(record.revisions()), fields=FIELDS)


def _record_again(status, errors, record_id):
    """The record again, the refusal's message flashed above it."""
    flash(next(iter(errors.values())), "error")
    return _record_page(MedicalRecord.get_by_id(record_id), status)


@bp.post("/records/<int:record_id>/delete")
@roles(*CLINICAL)
@answers_refusals(_record_again)
def delete(record_id):
    record = _record_or_404(record_id)
    if record.is_deleted:
        abort(404)
    record.soft_delete(current_user, read_delete_form(request.form))
    flash("施術録を削除しました（履歴には残ります）。")
    return htmx.see_other(url_for("records.chart", patient_id=record.patient_id))


# --- templates (定型文) --------------------------------------------------------------------

def _templates_page(status=200, form=None, errors=None):
    return htmx.render("records/templates.html", status=status, templates=RecordTemplate.by_field(),
                       fields=FIELDS, form=form or {}, errors=errors or {})


@bp.get("/record-templates")
@roles("owner")
def templates():
    return _templates_page()


def _templates_again(status, errors, **_):
    return _templates_page(status, request.form.to_dict(), errors)


@bp.post("/record-templates")
@roles("owner")
@answers_refusals(_templates_again)
def create_template():
    RecordTemplate.create(**read_template_form(request.form))
    flash("定型文を追加しました。")
    return htmx.see_other(url_for("records.templates"))


@bp.post("/record-templates/<int:template_id>")
@roles("owner")
@answers_refusals(_templates_again)
def update_template(template_id):
    template = get_or_404(RecordTemplate, template_id)
    template.revise(**read_template_form(request.form))
    flash("定型文を更新しました。")
    return htmx.see_other(url_for("records.templates"))


@bp.post("/record-templates/<int:template_id>/delete")
@roles("owner")
def delete_template(template_id):
    template = get_or_404(RecordTemplate, template_id)
    template.delete_instance()
    flash("定型文を削除しました。")
    return htmx.see_other(url_for("records.templates"))
