"""The platform operator's pages. Clinic users get 404 on every /admin URL.

These pages show clinics and counts only, never a patient's name, a record or a staff member.
"""
from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user

from .. import accounts, second_factor
from ..accounts import authenticate_admin
from ..db.tenancy import clinic_context
from ..forms import FormReader
from ..forms.clinic import read_new_clinic_form, read_plan_form
from ..models import PLANS, Clinic, PlatformAuditLog, User, clinic_admin
from ..models.clinic import CLINIC_STATUSES
from ..models.plan_limits import LIMIT_LABELS
from ..plans import clinic_overview, clinics_overview, database_size_bytes
from ..web import devices, htmx, second_step, sessions
from ..web.access import get_or_404
from ..web.presenters import describe_clinic_event
from ..web.refusals import answers_refusals

bp = Blueprint("admin", __name__, url_prefix="/admin")

LOGIN_FAILED = "ログインできませんでした。ユーザー名とパスワードを確かめてください。"
OPEN_ENDPOINTS = {"admin.login", "admin.login_post", "admin.login_code",
                  "admin.login_code_post"}
# create_clinic's AccountError fields -> the form's field names
ACCOUNT_FIELDS = {"plan": "subscription_plan", "username": "owner_username",
                  "password": "owner_password"}


@bp.before_request
def only_platform_admins():
    if current_user.is_authenticated and not current_user.is_platform_admin:
        abort(404)
    if request.endpoint not in OPEN_ENDPOINTS and not current_user.is_authenticated:
        target = url_for("admin.login")
        return htmx.redirect(target, 401) if htmx.is_htmx() else redirect(target)
    return None


@bp.get("/login")
def login():
    if current_user.is_authenticated:
        return redirect(url_for("admin.index"))
    return htmx.render("admin/login.html", form={})


@bp.post("/login")
def login_post():
    form = {"username": request.form.get("username", "")}
    admin = authenticate_admin(form["username"], request.form.get("password", ""),
                               sessions.client_ip(), devices.presented())
    if admin is None:
        return htmx.render("admin/login.html", status=401, form=form, error=LOGIN_FAILED)
    sessions.hold_pending(admin)  # the operator always has a second step (or enrols in it)
    return redirect(url_for("admin.login_code"), code=303)


@bp.get("/login/2fa")
def login_code():
    admin = sessions.pending_account(admin=True)
    if admin is None:
        return redirect(url_for("admin.login"))
    return second_step.page(admin, url_for("admin.login_code_post"))


@bp.post("/login/2fa")
def login_code_post():
    admin = sessions.pending_account(admin=True)
    if admin is None:
        return second_step.start_over("admin.login")
    return second_step.submit(admin, url_for("admin.login_code_post"), url_for("admin.index"))


@bp.post("/logout")
def logout():
    sessions.end()
    return redirect(url_for("admin.login"), code=303)


@bp.get("")
def index():
    entries, totals = clinics_overview(Clinic.listing())
    return htmx.render("admin/index.html", entries=entries, totals=totals,
                       size_mb=database_size_bytes() / 1024 / 1024)


def _new_form(status=200, form=None, errors=None):
    return htmx.render("admin/new.html", status=status,
                       form=form or {"subscription_plan": "starter"}, errors=errors or {},
                       plans=PLANS)


@bp.get("/clinics/new")
def new_clinic():
    return _new_form()


def _new_form_again(status, errors):
    """The form as typed (not the password), an account rule's message on the form's field."""
    typed = {key: value for key, value in FormReader(request.form).values().items()
             if key not in ("owner_password", "csrf_token")}
    return _new_form(status, typed, {ACCOUNT_FIELDS.get(key, key): message
                                     for key, message in errors.items()})


@bp.post("/clinics")
@answers_refusals(_new_form_again)
def create_clinic():
    fields = read_new_clinic_form(request.form)
    clinic = accounts.create_clinic(
        fields.pop("code"), fields.pop("name"), fields.pop("subscription_plan"),
        fields.pop("owner_username"), fields.pop("owner_password"), **fields)
    flash(f"医院「{clinic.name}」（{clinic.code}）を登録しました。")
    return htmx.see_other(url_for("admin.index"))


def _clinic_page(clinic, status=200, plan_form=None, errors=None):
    plan_form = plan_form or {"subscription_plan": clinic.subscription_plan,
                              "max_patients": "" if clinic.max_patients is None
                              else str(clinic.max_patients)}
    return htmx.render("admin/clinic.html", status=status, clinic=clinic,
                       entry=clinic_overview(clinic), limit_labels=LIMIT_LABELS, plans=PLANS,
                       statuses=CLINIC_STATUSES, plan_form=plan_form, errors=errors or {},
                       history=list(PlatformAuditLog.about_clinic(clinic.id)),
                       describe=describe_clinic_event,
                       owner_factors=User.owner_second_factors(clinic.id))


@bp.get("/clinics/<int:clinic_id>")
def clinic(clinic_id):
    return _clinic_page(get_or_404(Clinic, clinic_id))


def _plan_again(status, errors, clinic_id):
    typed = {key: request.form.get(key, "") for key in ("subscription_plan", "max_patients")}
    return _clinic_page(get_or_404(Clinic, clinic_id), status, typed, errors)


@bp.post("/clinics/<int:clinic_id>/plan")
@answers_refusals(_plan_again)
def change_plan(clinic_id):
    clinic = get_or_404(Clinic, clinic_id)
    fields = read_plan_form(request.form)
    changed = clinic_admin.change_plan(clinic, fields["subscription_plan"],
                                       fields["max_patients"])
    flash("プランと上限を変更しました。" if changed else "変更はありませんでした。")
    return htmx.see_other(url_for("admin.clinic", clinic_id=clinic.id))


@bp.post("/clinics/<int:clinic_id>/status")
def change_status(clinic_id):
    clinic = get_or_404(Clinic, clinic_id)
    status = request.form.get("status", "")
    if status not in CLINIC_STATUSES:
        return _clinic_page(clinic, 422, errors={"status": "状態を選んでください"})
    if not clinic_admin.set_status(clinic, status):
        flash(f"この医院は既に{CLINIC_STATUSES[status]}です。")
    elif status == "active":
        flash("医院の利用を再開しました。")
    else:
        flash("医院の利用を停止しました。この医院のスタッフはログアウトされました。")
    return htmx.see_other(url_for("admin.clinic", clinic_id=clinic.id))


@bp.post("/clinics/<int:clinic_id>/second-factor/reset")
def reset_owner_second_factor(clinic_id):
    """An owner lost their authenticator and asked the operator (who sees no staff list, so the
    owner's username is typed): remove it; they enrol again at their next log-in."""
    clinic = get_or_404(Clinic, clinic_id)
    username = request.form.get("username", "").strip()
    with clinic_context(clinic.id):
        owner = User.by_username(username) if username else None
        if owner is None:
            return _clinic_page(clinic, 422, errors={
                "username": f"この医院に「{username[:64]}」というユーザーはいません"})
        if owner.role != "owner":
            abort(403)  # other staff are their own owner's to reset
        second_factor.reset(owner, by=current_user, ip=sessions.client_ip())
    flash(f"院長「{owner.username}」の二段階認証をリセットしました。ログイン中の端末はログアウトされました。")
    return htmx.see_other(url_for("admin.clinic", clinic_id=clinic.id))
