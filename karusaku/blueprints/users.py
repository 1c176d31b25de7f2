"""Staff accounts of the clinic, managed by its owners."""
from flask import Blueprint, flash, request, url_for
from flask_login import current_user

from .. import second_factor
from ..accounts import AccountError, create_user, set_active, set_password
from ..models import ROLES, User
from ..web import htmx, sessions
from ..web.access import get_or_404, names_object, require_staff, roles

bp = Blueprint("users", __name__, url_prefix="/users")
bp.before_request(require_staff)
names_object("user_id", User)

FIELDS = ("username", "role", "display_name")


def _page(status=200, form=None, errors=None):
    return htmx.render("users/index.html", status=status, users=User.staff_list(), roles=ROLES,
                       form=form or {"role": "receptionist"}, errors=errors or {})


@bp.get("")
@roles("owner")
def index():
    return _page()


@bp.post("")
@roles("owner")
def create():
    form = {key: request.form.get(key, "") for key in FIELDS}
    try:
        user = create_user(form["username"], request.form.get("password", ""), form["role"],
                           form["display_name"], by=current_user)
    except AccountError as error:
        return _page(422, form, {error.field: str(error)})
    flash(f"スタッフ「{user.label}」を登録しました。")
    return htmx.see_other(url_for("users.index"))


@bp.post("/<int:user_id>/active")
@roles("owner")
def toggle_active(user_id):
    user = get_or_404(User, user_id)
    try:
        set_active(user, request.form.get("active") == "1", by=current_user,
                   ip=sessions.client_ip())
    except AccountError as error:
        return _page(422, errors={"list": str(error)})
    flash(f"「{user.label}」を{'有効' if request.form.get('active') == '1' else '無効'}にしました。")
    return htmx.see_other(url_for("users.index"))


@bp.post("/<int:user_id>/password")
@roles("owner")
def reset_password(user_id):
    user = get_or_404(User, user_id)
    try:
        set_password(user, request.form.get("new_password", ""), by=current_user,
                     ip=sessions.client_ip())
    except AccountError as error:
        return _page(422, errors={"list": f"{user.label}: {error}"})
    if user.id == current_user.id:
        sessions.start(User.get_by_id(user.id))
    flash(f"「{user.label}」のパスワードを変更しました。")
    return htmx.see_other(url_for("users.index"))


@bp.post("/<int:user_id>/second-factor/reset")
@roles("owner")
def reset_second_factor(user_id):
    """A staff member lost their authenticator: remove it and end their sessions."""
    user = get_or_404(User, user_id)
    if user.id == current_user.id:
        return _page(422, errors={
            "list": "ご自身の二段階認証は「二段階認証」のページで設定し直してください。"})
    second_factor.reset(user, by=current_user, ip=sessions.client_ip())
    flash(f"「{user.label}」の二段階認証をリセットしました。ログイン中の端末はログアウトされました。")
    return htmx.see_other(url_for("users.index"))
