"""Staff accounts managed by the owner: create, disable, reset a password."""
from karusaku.db.tenancy import clinic_context
from karusaku.models import AuditLog, LoginSession, User

from .conftest import PASSWORD, login


def _user(app, world, username, clinic="a"):
    with app.app_context(), clinic_context(world[clinic].clinic.id):
        return User.by_username(username)


def test_owner_sees_the_staff_of_their_clinic_only(as_user):
    page = as_user("a", "owner").get("/users").get_data(as_text=True)
    assert "clinic-a-receptionist" in page and "clinic-b" not in page


def test_owner_adds_a_staff_member_who_can_log_in(app, world, as_user):
    response = as_user("a", "owner").post("/users", data={
        "username": "kobayashi", "display_name": "小林", "role": "therapist", "password": PASSWORD})
    assert response.status_code == 303 and response.headers["Location"] == "/users"
    user = _user(app, world, "kobayashi")
    assert user.role == "therapist" and user.display_name == "小林"
    assert login(app.test_client(), "clinic-a", "kobayashi").status_code == 303
    with app.app_context(), clinic_context(world["a"].clinic.id):
        assert AuditLog.for_object("user", user.id).first().action == "user_created"


def test_bad_staff_input_answers_422_with_the_input_and_creates_nothing(app, world, as_user):
    session = as_user("a", "owner")
    cases = [
        ({"username": "has space", "role": "therapist", "password": PASSWORD}, "ユーザー名は"),
        ({"username": "ok-name", "role": "boss", "password": PASSWORD}, "役割"),
        ({"username": "ok-name", "role": "therapist", "password": "short"}, "12文字以上"),
        ({"username": "clinic-a-therapist", "role": "therapist", "password": PASSWORD},
         "既に使われています"),
        ({"username": "ok-name", "role": "therapist", "password": PASSWORD,
          "display_name": "長" * 101}, "100文字以内"),
    ]
    for data, message in cases:
        response = session.post("/users", data=data)
        body = response.get_data(as_text=True)
        assert response.status_code == 422, data
        assert message in body
        assert "value=\"" + data["username"] + "\"" in body  # the input comes back
        assert PASSWORD not in body  # a password never does
    assert _user(app, world, "ok-name") is None and _user(app, world, "has space") is None


def test_disabling_a_user_ends_their_sessions_and_blocks_login(app, world, as_user):
    receptionist = as_user("a", "receptionist")
    target = world["a"].users["receptionist"]
    response = as_user("a", "owner").post(f"/users/{target.id}/active", data={"active": "0"})
    assert response.status_code == 303
    assert receptionist.get("/").status_code == 302
    assert login(app.test_client(), "clinic-a", target.username).status_code == 401
    as_user("a", "owner").post(f"/users/{target.id}/active", data={"active": "1"})
    assert login(app.test_client(), "clinic-a", target.username).status_code == 303


def test_the_last_owner_cannot_be_disabled(app, world, as_user):
    owner = world["a"].users["owner"]
    response = as_user("a", "owner").post(f"/users/{owner.id}/active", data={"active": "0"})
    assert response.status_code == 422 and "最後の院長" in response.get_data(as_text=True)
    assert _user(app, world, owner.username).is_active


def test_owner_resets_a_password_and_the_old_sessions_end(app, world, as_user):
    therapist = as_user("a", "therapist")
    target = world["a"].users["therapist"]
    new_password = "新しいパスワードです12345"
    response = as_user("a", "owner").post(f"/users/{target.id}/password",
                                          data={"new_password": new_password})
    assert response.status_code == 303
    assert therapist.get("/").status_code == 302
    assert login(app.test_client(), "clinic-a", target.username).status_code == 401
    assert login(app.test_client(), "clinic-a", target.username, new_password).status_code == 303
    with app.app_context():
        assert LoginSession.select().where(LoginSession.user == target.id).count() == 1


def test_a_short_reset_password_is_refused(app, world, as_user):
    target = world["a"].users["therapist"]
    response = as_user("a", "owner").post(f"/users/{target.id}/password",
                                          data={"new_password": "tooshort"})
    assert response.status_code == 422
    assert login(app.test_client(), "clinic-a", target.username).status_code == 303


def test_staff_pages_are_for_owners_only(as_user, world):
    for role in ("therapist", "receptionist"):
        session = as_user("a", role)
        assert session.get("/users").status_code == 403
        assert session.post("/users", data={"username": "x", "role": "owner",
                                            "password": PASSWORD}).status_code == 403
