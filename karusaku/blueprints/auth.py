"""Logging in and out, and changing one's own password."""
from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user, login_required

from .. import second_factor
from ..accounts import AccountError, authenticate_staff, change_password
from ..models import User
from ..second_factor import SecondFactorError
from ..web import devices, htmx, second_step, sessions

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
    if user.needs_second_factor:
        sessions.hold_pending(user, next_url)
        return redirect(url_for("auth.login_code"), code=303)
    sessions.start(user)
    return redirect(sessions.safe_next(next_url, url_for("main.home")), code=303)


@bp.get("/login/2fa")
def login_code():
    user = sessions.pending_account()
    if user is None:
        return redirect(url_for("auth.login"))
    return second_step.page(user, url_for("auth.login_code_post"))


@bp.post("/login/2fa")
def login_code_post():
    user = sessions.pending_account()
    if user is None:
        return second_step.start_over("auth.login")
    return second_step.submit(user, url_for("auth.login_code_post"), url_for("main.home"))


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


def _account_page(status=200, error=None):
    account = current_user._get_current_object()
    return htmx.render("auth/two_factor.html", status=status, account=account, error=error,
                       action=url_for("auth.two_factor_post"),
                       **second_step.enrolment(account))


@bp.get("/account/2fa")
@login_required
def two_factor():
    return _account_page()


@bp.post("/account/2fa")
@login_required
def two_factor_post():
    """Confirm a (new) authenticator with a code from it; the recovery codes are shown once."""
    account = current_user._get_current_object()
    try:
        codes = second_factor.confirm_enrolment(account, request.form.get("code", ""),
                                                sessions.client_ip())
    except SecondFactorError as error:
        return _account_page(422, str(error))
    home = url_for("admin.index" if account.is_platform_admin else "main.home")
    return htmx.render("auth/recovery_codes.html", codes=codes, next=home)


@bp.post("/account/2fa/disable")
@login_required
def two_factor_disable():
    account = current_user._get_current_object()
    try:
        second_factor.disable(account, request.form.get("code", ""), sessions.client_ip())
    except SecondFactorError as error:
        return _account_page(422, str(error))
    flash("二段階認証を無効にしました。")
    return htmx.see_other(url_for("auth.two_factor"))
