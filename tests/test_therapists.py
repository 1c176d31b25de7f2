"""Therapists: list, new, edit, activate and deactivate; plan limits, roles, isolation."""
import pytest

from karusaku.db.tenancy import clinic_context
from karusaku.models import AuditLog, Clinic, Therapist

from .conftest import run_sql


def _therapists(app, world, clinic="a"):
    with app.app_context(), clinic_context(world[clinic].clinic.id):
        return {t.name: t for t in Therapist.select()}


def _therapist(app, world, therapist_id, clinic="a"):
    with app.app_context(), clinic_context(world[clinic].clinic.id):
        return Therapist.get_or_none(Therapist.id == therapist_id)


def _set_plan(app, world, plan, clinic="a"):
    with app.app_context():
        Clinic.update(subscription_plan=plan).where(Clinic.id == world[clinic].clinic.id).execute()


def _add(app, world, name, status="active", clinic="a"):
    with app.app_context(), clinic_context(world[clinic].clinic.id):
        return Therapist.create(name=name, status=status)


def _row_count(app):
    with app.app_context():
        return run_sql("SELECT COUNT(*) FROM therapists").fetchone()[0]


def test_owner_adds_a_therapist_and_is_sent_to_their_page(app, world, as_user):
    response = as_user("a", "owner").post("/therapists", data={
        "name": "佐藤 花子", "license_number": "柔整 12345", "specialty": "腰痛",
        "phone": "03-1234-5678", "email": "sato@example.jp", "status": "active"})
    therapist = _therapists(app, world)["佐藤 花子"]
    assert response.status_code == 303
    assert response.headers["Location"] == f"/therapists/{therapist.id}"
    assert (therapist.license_number, therapist.specialty, therapist.status) == (
        "柔整 12345", "腰痛", "active")
    with app.app_context(), clinic_context(world["a"].clinic.id):
        assert AuditLog.for_object("therapist", therapist.id).first().action == "therapist_created"


def test_receptionist_adds_a_therapist_with_only_a_name_as_active(app, world, as_user):
    response = as_user("a", "receptionist").post("/therapists", data={"name": "鈴木"})
    assert response.status_code == 303
    assert _therapists(app, world)["鈴木"].status == "active"


def test_the_new_form_offers_active_staff_accounts_and_none(app, world, as_user):
    page = as_user("a", "owner").get("/therapists/new").get_data(as_text=True)
    assert ">なし<" in page and "clinic-a-receptionist" in page
    assert "clinic-b" not in page


def test_list_shows_active_first_then_inactive_with_linked_account(app, world, as_user):
    _add(app, world, "休職中の施術者", status="inactive")
    _add(app, world, "新人の施術者")
    page = as_user("a", "therapist").get("/therapists").get_data(as_text=True)
    assert page.index("A整骨院の施術者") < page.index("新人の施術者") < page.index("休職中の施術者")
    assert "clinic-a-therapist" in page  # the fixture's therapist is linked to that account
    assert "無効" in page and "B鍼灸院" not in page


def test_only_owner_and_receptionist_see_the_add_link_and_buttons(as_user):
    assert "施術者を追加" in as_user("a", "owner").get("/therapists").get_data(as_text=True)
    assert "施術者を追加" in as_user("a", "receptionist").get("/therapists").get_data(as_text=True)
    page = as_user("a", "therapist").get("/therapists").get_data(as_text=True)
    assert "施術者を追加" not in page and "無効にする" not in page


def test_detail_page_shows_the_therapist_and_an_edit_form(world, as_user):
    therapist = world["a"].therapist
    page = as_user("a", "receptionist").get(f"/therapists/{therapist.id}").get_data(as_text=True)
    assert "A整骨院の施術者" in page and "登録内容を変更" in page
    assert "<dt>施術録</dt><dd>1件</dd>" in page  # the fixture's record stays with them
    page = as_user("a", "therapist").get(f"/therapists/{therapist.id}").get_data(as_text=True)
    assert "A整骨院の施術者" in page and "登録内容を変更" not in page


def test_owner_edits_a_therapist(app, world, as_user):
    therapist = world["a"].therapist
    response = as_user("a", "owner").post(f"/therapists/{therapist.id}", data={
        "name": "改名した施術者", "specialty": "肩こり", "status": "active", "user_id": ""})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/therapists/{therapist.id}"
    stored = _therapist(app, world, therapist.id)
    assert (stored.name, stored.specialty, stored.user_id) == ("改名した施術者", "肩こり", None)


def test_an_edit_without_a_status_keeps_the_status(app, world, as_user):
    therapist = _add(app, world, "無効の人", status="inactive")
    as_user("a", "owner").post(f"/therapists/{therapist.id}", data={"name": "無効の人２"})
    stored = _therapist(app, world, therapist.id)
    assert (stored.name, stored.status) == ("無効の人２", "inactive")


def test_deactivate_and_reactivate_keep_the_history(app, world, as_user):
    therapist, session = world["a"].therapist, as_user("a", "receptionist")
    response = session.post(f"/therapists/{therapist.id}/status", data={"status": "inactive"})
    assert response.status_code == 303
    assert _therapist(app, world, therapist.id).status == "inactive"
    page = session.get("/therapists").get_data(as_text=True)
    assert "A整骨院の施術者" in page and "有効にする" in page
    response = session.post(f"/therapists/{therapist.id}/status",
                            data={"status": "active", "from": "list"})
    assert response.status_code == 303 and response.headers["Location"] == "/therapists"
    assert _therapist(app, world, therapist.id).status == "active"
    with app.app_context():
        count = run_sql("SELECT COUNT(*) FROM medical_records WHERE therapist_id = ?",
                                     (therapist.id,)).fetchone()[0]
    assert count == 1


def test_an_unknown_status_is_422_and_changes_nothing(app, world, as_user):
    therapist = world["a"].therapist
    for status in ("", "deleted", "ACTIVE", "active\x00"):
        response = as_user("a", "owner").post(f"/therapists/{therapist.id}/status",
                                              data={"status": status})
        assert response.status_code == 422, status
    assert _therapist(app, world, therapist.id).status == "active"


def test_there_is_no_delete_route(app):
    rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("therapists.")]
    assert rules and all("DELETE" not in rule.methods for rule in rules)
    assert not any("delete" in rule.rule for rule in rules)


def test_a_therapist_is_linked_to_a_login_account(app, world, as_user):
    receptionist = world["a"].users["receptionist"]
    response = as_user("a", "owner").post("/therapists", data={
        "name": "受付兼施術者", "user_id": str(receptionist.id)})
    assert response.status_code == 303
    assert _therapists(app, world)["受付兼施術者"].user_id == receptionist.id
    with app.app_context(), clinic_context(world["a"].clinic.id):
        assert Therapist.for_user(receptionist.id).name == "受付兼施術者"
        assert Therapist.for_user(receptionist.id).name == "受付兼施術者"


def test_the_linked_therapist_sees_their_own_day_first(as_user):
    page = as_user("a", "therapist").get("/").get_data(as_text=True)
    assert "（A整骨院の施術者）" in page


def test_a_user_of_another_clinic_is_refused(app, world, as_user):
    other = world["b"].users["receptionist"]
    before = _row_count(app)
    response = as_user("a", "owner").post("/therapists", data={
        "name": "越境", "user_id": str(other.id)})
    assert response.status_code == 422
    assert "ログインアカウントを選び直してください" in response.get_data(as_text=True)
    assert _row_count(app) == before
    therapist = world["a"].therapist
    response = as_user("a", "owner").post(f"/therapists/{therapist.id}", data={
        "name": "越境", "user_id": str(other.id)})
    assert response.status_code == 422
    assert _therapist(app, world, therapist.id).user_id == world["a"].users["therapist"].id


def test_one_account_links_to_one_therapist_only(app, world, as_user):
    taken = world["a"].users["therapist"]
    response = as_user("a", "owner").post("/therapists", data={
        "name": "二人目", "user_id": str(taken.id)})
    assert response.status_code == 422 and "既に" in response.get_data(as_text=True)
    assert "二人目" not in _therapists(app, world)


def test_a_disabled_account_cannot_be_newly_linked(app, world, as_user):
    receptionist = world["a"].users["receptionist"]
    as_user("a", "owner").post(f"/users/{receptionist.id}/active", data={"active": "0"})
    response = as_user("a", "owner").post("/therapists", data={
        "name": "無効アカウント", "user_id": str(receptionist.id)})
    assert response.status_code == 422
    assert "無効アカウント" not in _therapists(app, world)


def _fill_starter(app, world, as_user):
    """Clinic A on starter with 3 active therapists (the fixture's and two more)."""
    _set_plan(app, world, "starter")
    session = as_user("a", "owner")
    for name in ("二人目", "三人目"):
        assert session.post("/therapists", data={"name": name}).status_code == 303
    return session


def test_the_plan_limit_refuses_a_fourth_active_therapist(app, world, as_user):
    session = _fill_starter(app, world, as_user)
    before = _row_count(app)
    response = session.post("/therapists", data={"name": "四人目", "specialty": "鍼灸"})
    body = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "スタータープラン" in body and "上限は3です" in body
    assert 'value="四人目"' in body and 'value="鍼灸"' in body  # the input is kept
    assert _row_count(app) == before


def test_an_inactive_therapist_can_be_added_past_the_limit_but_not_activated(app, world, as_user):
    session = _fill_starter(app, world, as_user)
    response = session.post("/therapists", data={"name": "控え", "status": "inactive"})
    assert response.status_code == 303
    spare = _therapists(app, world)["控え"]
    response = session.post(f"/therapists/{spare.id}/status", data={"status": "active"})
    assert response.status_code == 403 and "上限は3です" in response.get_data(as_text=True)
    response = session.post(f"/therapists/{spare.id}/status",
                            data={"status": "active", "from": "list"})
    assert response.status_code == 403 and "上限は3です" in response.get_data(as_text=True)
    response = session.post(f"/therapists/{spare.id}", data={"name": "控え", "status": "active"})
    assert response.status_code == 403 and "上限は3です" in response.get_data(as_text=True)
    assert _therapist(app, world, spare.id).status == "inactive"


def test_deactivating_one_makes_room_for_another(app, world, as_user):
    session = _fill_starter(app, world, as_user)
    spare = _add(app, world, "控え", status="inactive")
    therapist = world["a"].therapist
    assert session.post(f"/therapists/{therapist.id}/status",
                        data={"status": "inactive"}).status_code == 303
    assert session.post(f"/therapists/{spare.id}/status",
                        data={"status": "active"}).status_code == 303


def test_editing_an_active_therapist_at_the_limit_is_allowed(app, world, as_user):
    session = _fill_starter(app, world, as_user)
    therapist = world["a"].therapist
    response = session.post(f"/therapists/{therapist.id}", data={"name": "名前だけ変更",
                                                                  "status": "active"})
    assert response.status_code == 303


def test_pro_allows_ten_active_therapists(app, world, as_user):
    session = as_user("a", "owner")
    for number in range(2, 11):
        assert session.post("/therapists", data={"name": f"施術者{number}"}).status_code == 303
    response = session.post("/therapists", data={"name": "施術者11"})
    assert response.status_code == 403 and "上限は10です" in response.get_data(as_text=True)


BAD_INPUTS = [
    ({"name": ""}, "name", "氏名を入力してください"),
    ({"name": "長" * 10_000}, "name", "100文字以内"),
    ({"name": "ヌル\x00文字"}, "name", "使えない文字"),
    ({"name": "😀<script>alert(1)</script>", "email": "no-at-mark"}, "email", "メールアドレス"),
    ({"name": "<script>alert(1)</script>", "status": "retired"}, "status", "状態を選んでください"),
    ({"name": "山田", "user_id": "abc"}, "user_id", "数字で"),
    ({"name": "山田", "user_id": "-1"}, "user_id", "1以上"),
    ({"name": "山田", "user_id": "99999999999999999999"}, "user_id", "数字で"),
    ({"name": "山田", "phone": "0" * 31}, "phone", "30文字以内"),
    ({"name": "山田", "license_number": "\x07"}, "license_number", "使えない文字"),
]


@pytest.mark.parametrize("data, field, message", BAD_INPUTS)
def test_bad_input_is_422_with_the_input_echoed_and_nothing_written(
        app, world, as_user, data, field, message):
    session, therapist = as_user("a", "owner"), world["a"].therapist
    before = _row_count(app)
    for path in ("/therapists", f"/therapists/{therapist.id}"):
        response = session.post(path, data=data)
        body = response.get_data(as_text=True)
        assert response.status_code == 422, path
        assert message in body and f'id="e-{field}"' in body
        assert "<script>alert" not in body
        if "<script>" in data["name"]:
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
        if "😀" in data["name"]:
            assert "😀" in body
    assert _row_count(app) == before
    stored = _therapist(app, world, therapist.id)
    assert (stored.name, stored.status) == ("A整骨院の施術者", "active")


def test_a_script_name_is_stored_and_shown_escaped(app, world, as_user):
    session = as_user("a", "owner")
    response = session.post("/therapists", data={"name": "<script>alert(1)</script>😀"})
    assert response.status_code == 303
    page = session.get("/therapists").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;😀" in page and "<script>alert" not in page


def test_a_clinic_id_in_the_form_is_ignored(app, world, as_user):
    response = as_user("a", "owner").post("/therapists", data={
        "name": "所属の偽装", "clinic_id": str(world["b"].clinic.id)})
    assert response.status_code == 303
    assert "所属の偽装" in _therapists(app, world) and "所属の偽装" not in _therapists(app, world, "b")


def _write_requests(therapist_id):
    return [
        ("GET", "/therapists/new", None),
        ("POST", "/therapists", {"name": "権限外"}),
        ("POST", f"/therapists/{therapist_id}", {"name": "権限外", "status": "active"}),
        ("POST", f"/therapists/{therapist_id}/status", {"status": "inactive"}),
    ]


def test_a_therapist_may_read_but_gets_403_on_every_write(app, world, as_user):
    session, therapist = as_user("a", "therapist"), world["a"].therapist
    assert session.get("/therapists").status_code == 200
    assert session.get(f"/therapists/{therapist.id}").status_code == 200
    for method, path, data in _write_requests(therapist.id):
        response = session.get(path) if method == "GET" else session.post(path, data=data)
        assert response.status_code == 403, f"{method} {path}"
    stored = _therapist(app, world, therapist.id)
    assert (stored.name, stored.status) == ("A整骨院の施術者", "active")
    assert "権限外" not in _therapists(app, world)


@pytest.mark.parametrize("role", ["owner", "receptionist"])
def test_owner_and_receptionist_may_open_the_forms(world, as_user, role):
    session, therapist = as_user("a", role), world["a"].therapist
    assert session.get("/therapists/new").status_code == 200
    assert session.get(f"/therapists/{therapist.id}").status_code == 200


@pytest.mark.parametrize("role", ["owner", "therapist", "receptionist"])
def test_another_clinics_therapist_is_404_on_every_route(app, world, as_user, role):
    session, target = as_user("b", role), world["a"].therapist
    requests = [("GET", f"/therapists/{target.id}", None)] + [
        request for request in _write_requests(target.id) if str(target.id) in request[1]]
    for method, path, data in requests:
        response = session.get(path) if method == "GET" else session.post(path, data=data)
        assert response.status_code == 404, f"{method} {path} as B's {role}"
    stored = _therapist(app, world, target.id)
    assert (stored.name, stored.status, stored.updated_at) == (
        target.name, "active", target.updated_at)
    assert "A整骨院の施術者" not in session.get("/therapists").get_data(as_text=True)


def test_every_therapist_route_answers_an_empty_post_without_a_500(world, as_user):
    therapist = world["a"].therapist
    for role in ("owner", "receptionist", "therapist"):
        session = as_user("a", role)
        for path in ("/therapists", f"/therapists/{therapist.id}",
                     f"/therapists/{therapist.id}/status"):
            status = session.post(path, data={}).status_code
            assert status == (403 if role == "therapist" else 422), f"{path} as {role}"


def test_an_edit_keeps_a_link_to_an_account_disabled_since(app, world, as_user):
    therapist, account = world["a"].therapist, world["a"].users["therapist"]
    session = as_user("a", "owner")
    session.post(f"/users/{account.id}/active", data={"active": "0"})
    assert "・無効" in session.get(f"/therapists/{therapist.id}").get_data(as_text=True)
    response = session.post(f"/therapists/{therapist.id}", data={
        "name": "A整骨院の施術者", "specialty": "整体", "user_id": str(account.id)})
    assert response.status_code == 303
    assert _therapist(app, world, therapist.id).user_id == account.id
