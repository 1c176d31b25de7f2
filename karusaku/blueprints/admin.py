"""The platform operator's pages. Clinic users get 404 on every /admin URL.

These pages show clinics and counts only, never a patient's name or a record.
"""
from flask import Blueprint, abort, redirect, request, url_for
from flask_login import current_user

from .. import htmx, sessions
from ..accounts import authenticate_admin
from ..models import PLANS, Clinic
from ..plans import usage_by_clinic

bp = Blueprint("admin", __name__, url_prefix="/admin")

LOGIN_FAILED = "ログインできませんでした。ユーザー名とパスワードを確かめてください。"
OPEN_ENDPOINTS = {"admin.login", "admin.login_post"}


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
                               sessions.client_ip())
    if admin is None:
        return htmx.render("admin/login.html", status=401, form=form, error=LOGIN_FAILED)
    sessions.start(admin)
    return redirect(url_for("admin.index"), code=303)


@bp.post("/logout")
def logout():
    sessions.end()
    return redirect(url_for("admin.login"), code=303)


@bp.get("")
def index():
    clinics = Clinic.select().order_by(Clinic.id)
    return htmx.render("admin/index.html", clinics=clinics, usage=usage_by_clinic(), plans=PLANS)
