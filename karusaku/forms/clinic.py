"""The clinic's forms: the owner's settings, and the operator's plan and new-clinic forms."""
from datetime import datetime

from ..models.clinic import MAX_PATIENTS_LIMIT, PLANS, SLOT_CHOICES
from ..passwords import password_problem
from ..rules import CLINIC_CODE, USERNAME
from .reader import FormReader


def _hhmm(form, name, label):
    """A time of day typed as HH:MM (what <input type=time> sends), or None with an error."""
    value = form.raw(name).strip()
    if not value:
        form.error(name, f"{label}を入力してください")
        return None
    try:
        if len(value) != 5 or not value.isascii():
            raise ValueError(value)
        return datetime.strptime(value, "%H:%M").time()
    except ValueError:
        form.error(name, f"{label}は 09:00 の形で入力してください")
        return None


def read_settings_form(data):
    """The clinic settings of a submitted form, cleaned; raises Invalid.

    closed_weekdays comes as several values (one checkbox per weekday, Monday = 0)."""
    form = FormReader(data)
    fields = {
        "name": form.text("name", "院名", required=True, max_length=100),
        "address": form.text("address", "住所", max_length=200),
        "phone": form.text("phone", "電話番号", max_length=30),
        "email": form.text("email", "メールアドレス", max_length=200),
    }
    if fields["email"] and "@" not in fields["email"]:
        form.error("email", "メールアドレスを確かめてください")
    opens = _hhmm(form, "opens_at", "開始時刻")
    closes = _hhmm(form, "closes_at", "終了時刻")
    if opens and closes and opens >= closes:
        form.error("closes_at", "終了時刻は開始時刻より後にしてください")
    fields["opens_at"] = f"{opens:%H:%M}" if opens else None
    fields["closes_at"] = f"{closes:%H:%M}" if closes else None
    days = data.getlist("closed_weekdays") if hasattr(data, "getlist") else [form.raw("closed_weekdays")]
    days = [day for day in days if isinstance(day, str) and day != ""]
    if any(len(day) != 1 or day not in "0123456" for day in days):
        form.error("closed_weekdays", "休診日を選び直してください")
    fields["closed_weekdays"] = "".join(sorted(set(days) & set("0123456")))
    slot = form.integer("slot_minutes", "予約枠の長さ", required=True)
    if slot is not None and slot not in SLOT_CHOICES:
        form.error("slot_minutes", "予約枠の長さを選んでください")
    fields["slot_minutes"] = slot
    form.check()
    return fields


def _max_patients(form):
    """The patient limit override: '' is None (the plan's limit), else 0..MAX_PATIENTS_LIMIT."""
    return form.integer("max_patients", "患者数の上限", minimum=0, maximum=MAX_PATIENTS_LIMIT)


def read_plan_form(data):
    """The platform admin's plan form: subscription_plan and max_patients; raises Invalid."""
    form = FormReader(data)
    fields = {"subscription_plan": form.choice("subscription_plan", "プラン", PLANS),
              "max_patients": _max_patients(form)}
    form.check()
    return fields


def read_new_clinic_form(data):
    """A new clinic and its owner account as submitted by the platform admin, cleaned, with a
    message per bad field; raises Invalid. The account rules are accounts.py's."""
    form = FormReader(data)
    code = form.text("code", "医院コード", required=True, max_length=32).lower()
    if code and not CLINIC_CODE.match(code):
        form.error("code", "医院コードは英小文字・数字・ハイフンの2〜32文字にしてください")
    fields = {
        "code": code,
        "name": form.text("name", "医院名", required=True, max_length=100),
        "subscription_plan": form.choice("subscription_plan", "プラン", PLANS),
        "owner_username": form.text("owner_username", "院長のユーザー名", required=True,
                                    max_length=64),
        "address": form.text("address", "住所", max_length=200),
        "phone": form.text("phone", "電話番号", max_length=30),
        "email": form.text("email", "メールアドレス", max_length=200),
        "max_patients": _max_patients(form),
    }
    if fields["owner_username"] and not USERNAME.match(fields["owner_username"]):
        form.error("owner_username", "ユーザー名は半角英数字と . _ - の64文字以内にしてください")
    if fields["email"] and "@" not in fields["email"]:
        form.error("email", "メールアドレスを確かめてください")
    password = form.raw("owner_password")
    problem = password_problem(password)
    if problem:
        form.error("owner_password", problem)
    form.check()
    fields["owner_password"] = password
    return fields
