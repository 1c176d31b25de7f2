"""The patient form: registration and editing, and the booking form's quick registration."""
from ..japanese import normalize_phone
from ..models.patients import GENDERS
from .reader import FormReader


def read_patient_form(data, quick=False):
    """The patient fields of a submitted form, cleaned; raises Invalid.

    quick: the booking form's quick registration (name, kana and phone only)."""
    form = FormReader(data)
    fields = {
        "name": form.text("name", "氏名", required=True, max_length=100),
        "name_kana": form.text("name_kana", "フリガナ", required=True, max_length=100),
        "phone": form.text("phone", "電話番号", max_length=30),
    }
    if fields["phone"] and len(normalize_phone(fields["phone"])) < 6:
        form.error("phone", "電話番号を確かめてください")
    if not quick:
        fields.update(
            date_of_birth=form.birth_date("date_of_birth"),
            gender=form.choice("gender", "性別", GENDERS, required=False) or "",
            email=form.text("email", "メールアドレス", max_length=200),
            address=form.text("address", "住所", max_length=300),
        )
        if fields["email"] and "@" not in fields["email"]:
            form.error("email", "メールアドレスを確かめてください")
    form.check()
    return fields
