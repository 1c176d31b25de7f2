"""The therapist form: details, status and the login account they are linked to."""
from ..models.accounts import User
from ..models.therapists import STATUSES, Therapist
from .reader import FormReader


def read_therapist_form(data, therapist=None):
    """The therapist fields of a submitted form, cleaned; raises Invalid.

    `therapist` is the one being edited: a form without a status keeps theirs, and the login
    account they are already linked to stays selectable even when it has been disabled."""
    form = FormReader(data)
    fields = {
        "name": form.text("name", "氏名", required=True, max_length=100),
        "license_number": form.text("license_number", "免許番号", max_length=50),
        "specialty": form.text("specialty", "専門", max_length=100),
        "phone": form.text("phone", "電話番号", max_length=30),
        "email": form.text("email", "メールアドレス", max_length=200),
        "status": form.choice("status", "状態", STATUSES, required=False)
        or (therapist.status if therapist is not None else "active"),
    }
    user_id = form.integer("user_id", "ログインアカウント", minimum=1)
    if user_id is not None and not form.errors.get("user_id"):
        _check_account(form, user_id, therapist)
    fields["user"] = user_id
    if fields["email"] and "@" not in fields["email"]:
        form.error("email", "メールアドレスを確かめてください")
    form.check()
    return fields


def _check_account(form, user_id, therapist):
    """The login account must be this clinic's, active (unless already linked) and not linked
    to another therapist."""
    user = User.with_id(user_id)
    already = therapist is not None and therapist.user_id == user_id
    if user is None:
        form.error("user_id", "ログインアカウントを選び直してください")
    elif not user.is_active and not already:
        form.error("user_id", "無効なログインアカウントは選べません")
    else:
        other = Therapist.for_user(user_id)
        if other is not None and (therapist is None or other.id != therapist.id):
            form.error("user_id", f"このログインアカウントは既に「{other.name}」に紐付いています")
