"""Logging in and out, and changing one's own password."""
from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user, login_required

from .. import devices, htmx, sessions
from ..accounts import AccountError, authenticate_staff, change_password
from ..models import User

bp = Blueprint("auth", __name__)

LOGIN_FAILED = ("ログインできませんでした。医院コード・ユーザー名・パスワードを確かめてください。"
                "続けて5回間違えると、そのアカウントは15分間ログインできなくなります。")


@bp.get("/login")
def login():
    if current_user.is_authenticated and not current_user.is_platform_admin:
        return redirect(url_for("main.home"))
    return htmx.render("auth/login.html", form={}, next=request.args.get("next", ""))


@bp.post("/login")
def login_post():
    form = {key: request.form.get(key, "") for key in ("clinic_code", "username")}
    next_url = request.form.get("next") or request.args.get("next", "")
    user = authenticate_staff(form["clinic_code"], form["username"],
                              request.form.get("password", ""), sessions.client_ip(),
                              devices.presented())
    if user is None:
        return htmx.render("auth/login.html", status=401, form=form, next=next_url,
                           error=LOGIN_FAILED)
    sessions.start(user)
    return redirect(sessions.safe_next(next_url, url_for("main.home")), code=303)


@bp.post("/logout")
def logout():
    sessions.end()
    return redirect(url_for("auth.login"), code=303)


@bp.get("/account/password")
@login_required
def password():
    return htmx.render("auth/password.html", errors={})


@bp.post("/account/password")
@login_required
def password_post():
    if current_user.is_platform_admin:
        return redirect(url_for("admin.index"))
    user = current_user._get_current_object()
    try:
        change_password(user, request.form.get("current_password", ""),
                        request.form.get("new_password", ""), sessions.client_ip())
    except AccountError as error:
        return htmx.render("auth/password.html", status=422, errors={error.field: str(error)})
    sessions.start(User.get_by_id(user.id))
    flash("パスワードを変更しました。ほかの端末のログインは終了しました。")
    return redirect(url_for("main.home"), code=303)
