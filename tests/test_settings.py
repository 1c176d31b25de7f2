"""Clinic settings: owner only, validated, one clinic's row; usage against the plan; the
hours, closed days and slots the schedule is drawn from."""
from datetime import date, time

import pytest
from werkzeug.datastructures import MultiDict

from karusaku.db.tenancy import clinic_context
from karusaku.forms.clinic import read_settings_form
from karusaku.models import AuditLog, Clinic, clinic_admin

GOOD = {"name": "A整骨院 本院", "address": "東京都千代田区1-1", "phone": "03-0000-0000",
        "email": "info@a.example.jp", "opens_at": "08:30", "closes_at": "19:00",
        "slot_minutes": "30"}


def _clinic(app, world, key="a"):
    with app.app_context():
        return Clinic.get_by_id(world[key].clinic.id)


def _columns(clinic):
    return {name: getattr(clinic, name) for name in Clinic._meta.fields}


def test_owner_sees_settings_code_plan_and_usage(world, as_user):
    page = as_user("a", "owner").get("/settings").get_data(as_text=True)
    assert "clinic-a" in page and "A整骨院" in page
    assert "プロ" in page and "¥15,000" in page
    assert 'type="time"' in page and 'value="09:00"' in page and 'value="20:00"' in page
    assert '<option value="15" selected>' in page


def test_settings_are_for_the_owner_only(app, world, as_user):
    before = _columns(_clinic(app, world))
    for role in ("therapist", "receptionist"):
        session = as_user("a", role)
        assert session.get("/settings").status_code == 403
        assert session.post("/settings", data={**GOOD, "name": role}).status_code == 403
    assert _columns(_clinic(app, world)) == before


def test_only_owners_have_the_settings_link(as_user):
    assert 'href="/settings"' in as_user("a", "owner").get("/").get_data(as_text=True)
    assert 'href="/settings"' not in as_user("a", "receptionist").get("/").get_data(as_text=True)


def test_owner_updates_hours_slot_and_closed_days(app, world, as_user):
    data = MultiDict({**GOOD, "csrf_token": None})
    data.setlist("closed_weekdays", ["6", "2"])
    session = as_user("a", "owner")
    data["csrf_token"] = session.token
    response = session.client.post("/settings", data=data)
    assert response.status_code == 303 and response.headers["Location"] == "/settings"
    clinic = _clinic(app, world)
    assert (clinic.name, clinic.opens_at, clinic.closes_at, clinic.slot_minutes,
            clinic.closed_weekdays) == ("A整骨院 本院", "08:30", "19:00", 30, "26")
    assert (clinic.address, clinic.phone, clinic.email) == (
        GOOD["address"], GOOD["phone"], GOOD["email"])
    page = session.get("/settings").get_data(as_text=True)
    assert "設定を保存しました" in page
    assert 'value="2" checked' in page and 'value="6" checked' in page
    assert 'value="0" checked' not in page
    with app.app_context(), clinic_context(clinic.id):
        entry = AuditLog.for_object("clinic", clinic.id).first()
        assert entry.action == "settings_changed"
        assert entry.username == "clinic-a-owner" and "slot_minutes" in entry.detail


def test_unticking_every_closed_day_opens_every_day(app, world, as_user):
    with app.app_context():
        Clinic.update(closed_weekdays="06").where(Clinic.id == world["a"].clinic.id).execute()
    assert as_user("a", "owner").post("/settings", data=GOOD).status_code == 303
    assert _clinic(app, world).closed_weekdays == ""


def test_b_is_unaffected_when_a_changes_its_settings(app, world, as_user):
    before = _columns(_clinic(app, world, "b"))
    assert as_user("a", "owner").post("/settings", data=GOOD).status_code == 303
    assert _columns(_clinic(app, world, "b")) == before
    assert "A整骨院 本院" not in as_user("b", "owner").get("/settings").get_data(as_text=True)


def test_code_plan_limits_and_clinic_id_in_the_form_are_ignored(app, world, as_user):
    b_before = _columns(_clinic(app, world, "b"))
    response = as_user("a", "owner").post("/settings", data={
        **GOOD, "clinic_id": str(world["b"].clinic.id), "id": str(world["b"].clinic.id),
        "code": "hijacked", "subscription_plan": "enterprise", "max_patients": "99999",
        "status": "suspended"})
    assert response.status_code == 303
    clinic = _clinic(app, world)
    assert (clinic.code, clinic.subscription_plan, clinic.max_patients, clinic.status) == (
        "clinic-a", "pro", None, "active")
    assert clinic.name == GOOD["name"]
    assert _columns(_clinic(app, world, "b")) == b_before


def test_revise_settings_refuses_fields_that_are_not_settings(app, world):
    with app.app_context(), clinic_context(world["a"].clinic.id):
        with pytest.raises(TypeError):
            clinic_admin.revise_settings(world["a"].clinic.id, subscription_plan="enterprise")
    assert _clinic(app, world).subscription_plan == "pro"


BAD_SETTINGS = [
    ({"opens_at": "19:00", "closes_at": "09:00"}, "closes_at", "開始時刻より後"),
    ({"opens_at": "10:00", "closes_at": "10:00"}, "closes_at", "開始時刻より後"),
    ({"closes_at": "25:00"}, "closes_at", "09:00 の形"),
    ({"opens_at": "abc"}, "opens_at", "09:00 の形"),
    ({"opens_at": "9:00"}, "opens_at", "09:00 の形"),
    ({"opens_at": "０９:００"}, "opens_at", "09:00 の形"),
    ({"opens_at": ""}, "opens_at", "開始時刻を入力してください"),
    ({"slot_minutes": "7"}, "slot_minutes", "予約枠の長さを選んでください"),
    ({"slot_minutes": "abc"}, "slot_minutes", "数字で"),
    ({"slot_minutes": ""}, "slot_minutes", "予約枠の長さを入力してください"),
    ({"name": ""}, "name", "院名を入力してください"),
    ({"name": "院" * 101}, "name", "100文字以内"),
    ({"name": "院" * 10_000}, "name", "100文字以内"),
    ({"name": "ヌル\x00院"}, "name", "使えない文字"),
    ({"name": "<script>alert(1)</script>😀", "email": "no-at-mark"}, "email", "メールアドレス"),
    ({"closed_weekdays": "7"}, "closed_weekdays", "休診日を選び直してください"),
    ({"closed_weekdays": "06"}, "closed_weekdays", "休診日を選び直してください"),
    ({"closed_weekdays": "<script>"}, "closed_weekdays", "休診日を選び直してください"),
]


@pytest.mark.parametrize("change, field, message", BAD_SETTINGS)
def test_bad_settings_are_422_with_the_input_back_and_nothing_saved(
        app, world, as_user, change, field, message):
    before = _columns(_clinic(app, world))
    data = {**GOOD, **change}
    response = as_user("a", "owner").post("/settings", data=data)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in body
    assert "<script>" not in body
    if field != "name":
        assert f'value="{data["name"]}"' in body or "&lt;script&gt;" in body
    if "😀" in data["name"]:
        assert "&lt;script&gt;alert(1)&lt;/script&gt;😀" in body
    assert _columns(_clinic(app, world)) == before


def test_ticked_closed_days_come_back_on_a_422(world, as_user):
    session = as_user("a", "owner")
    data = MultiDict({**GOOD, "opens_at": "abc", "csrf_token": session.token})
    data.setlist("closed_weekdays", ["1", "5"])
    body = session.client.post("/settings", data=data).get_data(as_text=True)
    assert 'value="1" checked' in body and 'value="5" checked' in body
    assert 'value="abc"' in body


def test_the_usage_table_shows_counts_and_limits(app, world, as_user):
    page = as_user("a", "owner").get("/settings").get_data(as_text=True)
    # pro: 1 patient of 500, 1 active therapist of 10, 1 record this month of 2000
    assert '<td class="num">1</td>\n        <td class="num">500</td>' in page
    assert '<td class="num">1</td>\n        <td class="num">10</td>' in page
    assert '<td class="num">1</td>\n        <td class="num">2,000</td>' in page
    assert "無制限" not in page


def test_the_usage_table_follows_the_plan_and_max_patients(app, world, as_user):
    with app.app_context():
        Clinic.update(subscription_plan="enterprise").where(
            Clinic.id == world["a"].clinic.id).execute()
    page = as_user("a", "owner").get("/settings").get_data(as_text=True)
    assert page.count("無制限") == 3 and "エンタープライズ" in page and "¥30,000" in page
    with app.app_context():
        Clinic.update(subscription_plan="starter", max_patients=1).where(
            Clinic.id == world["a"].clinic.id).execute()
    page = as_user("a", "owner").get("/settings").get_data(as_text=True)
    assert '<tr class="at-limit">' in page and "スターター" in page and "¥5,500" in page
    assert '<td class="num">1</td>\n        <td class="num">3</td>' in page


def test_an_empty_post_is_422(as_user):
    assert as_user("a", "owner").post("/settings", data={}).status_code == 422


def test_read_settings_form_cleans_a_form():
    data = MultiDict({**GOOD, "name": "  院  名 "})
    data.setlist("closed_weekdays", ["6", "0", "6"])
    fields = read_settings_form(data)
    assert fields["name"] == "院 名" and fields["closed_weekdays"] == "06"
    assert fields["slot_minutes"] == 30 and fields["opens_at"] == "08:30"


def _clinic_with(**settings):
    values = {"opens_at": "09:00", "closes_at": "20:00", "closed_weekdays": "", "slot_minutes": 15}
    return Clinic(code="x", name="x", **{**values, **settings})


def test_closed_on_reads_the_closed_weekdays():
    clinic = _clinic_with(closed_weekdays="36")  # Thursday and Sunday
    assert clinic.closed_on(date(2026, 4, 2))  # a Thursday
    assert clinic.closed_on(date(2026, 4, 5))  # a Sunday
    assert not clinic.closed_on(date(2026, 4, 6))  # a Monday
    assert not _clinic_with().closed_on(date(2026, 4, 5))
    assert clinic.closed_weekday_labels == "木日"


def test_hours_for_gives_times():
    assert _clinic_with(opens_at="08:30", closes_at="19:15").hours_for(date(2026, 4, 6)) == (
        time(8, 30), time(19, 15))


def test_slot_times_step_from_opening_to_closing():
    day = date(2026, 4, 6)
    assert _clinic_with(opens_at="09:00", closes_at="10:00").slot_times(day) == [
        time(9, 0), time(9, 15), time(9, 30), time(9, 45)]
    assert _clinic_with(opens_at="09:00", closes_at="12:00", slot_minutes=60).slot_times(day) == [
        time(9), time(10), time(11)]
    # a last slot that does not fit whole still starts before closing
    assert _clinic_with(opens_at="09:00", closes_at="10:30", slot_minutes=60).slot_times(day) == [
        time(9), time(10)]
    slots = _clinic_with(opens_at="00:00", closes_at="23:59", slot_minutes=5).slot_times(day)
    assert len(slots) == 288 and slots[-1] == time(23, 55)
