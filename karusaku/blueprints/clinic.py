"""The clinic's settings (hours, slot length, details) and its usage against the plan."""
from flask import Blueprint, flash, request, send_file, url_for

from ..clock import today as clinic_today
from ..db.tenancy import current_clinic_id
from ..forms import FormReader
from ..forms.clinic import read_settings_form
from ..models import Clinic, clinic_admin
from ..models.clinic import SECOND_FACTOR_RULES, SLOT_CHOICES, WEEKDAY_LABELS
from ..models.plan_limits import LIMIT_LABELS, limits
from ..ops import backups
from ..plans import clinic_usage
from ..web import htmx
from ..web.access import require_staff, roles
from ..web.refusals import answers_refusals

bp = Blueprint("clinic", __name__)
bp.before_request(require_staff)


def _values(clinic):
    """The stored settings as the form shows them."""
    return {"name": clinic.name, "address": clinic.address, "phone": clinic.phone,
            "email": clinic.email, "opens_at": clinic.opens_at, "closes_at": clinic.closes_at,
            "slot_minutes": str(clinic.slot_minutes), "closed_weekdays": list(clinic.closed_weekdays)}


def _page(status=200, form=None, errors=None):
    clinic = Clinic.current()
    used, limit = clinic_usage(), limits(clinic)
    usage = [(LIMIT_LABELS[kind], used[kind], limit[kind]) for kind in LIMIT_LABELS]
    return htmx.render("clinic/settings.html", status=status, clinic=clinic,
                       form=form or _values(clinic), errors=errors or {},
                       usage=usage, staff_count=used["staff"],
                       weekdays=WEEKDAY_LABELS, slot_choices=SLOT_CHOICES,
                       second_factor_rules=SECOND_FACTOR_RULES)


@bp.get("/settings")
@roles("owner")
def settings():
    return _page()


def _settings_again(status, errors):
    form = FormReader(request.form).values()
    form["closed_weekdays"] = request.form.getlist("closed_weekdays")
    return _page(status, form, errors)


@bp.post("/settings")
@roles("owner")
@answers_refusals(_settings_again)
def update_settings():
    clinic_admin.revise_settings(current_clinic_id(), **read_settings_form(request.form))
    flash("設定を保存しました。")
    return htmx.see_other(url_for("clinic.settings"))


@bp.post("/settings/second-factor")
@roles("owner")
def update_second_factor_rule():
    """Who must log in with a second factor: nobody, the owners, or every staff member."""
    rule = request.form.get("second_factor_required", "")
    if rule not in SECOND_FACTOR_RULES:
        return _page(422, errors={"second_factor_required": "二段階認証の設定を選んでください"})
    clinic_admin.revise_settings(current_clinic_id(), second_factor_required=rule)
    flash(f"二段階認証を「{SECOND_FACTOR_RULES[rule]}」にしました。次のログインから適用されます。")
    return htmx.see_other(url_for("clinic.settings"))


@bp.get("/settings/export")
@roles("owner")
def export():
    """The clinic's own data as a gzip-compressed SQLite file, to take away."""
    clinic = Clinic.current()
    name = f"karusaku-{clinic.code}-{clinic_today():%Y%m%d}.sqlite.gz"
    return send_file(backups.export_for_owner(clinic.code, name), mimetype="application/gzip",
                     as_attachment=True, download_name=name)
