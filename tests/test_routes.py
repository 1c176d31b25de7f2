"""Isolation and roles on every route of the app, taken from its URL map, every method."""
import pytest

from .conftest import ROLES, admin_login, csrf_token
from .routes import (
    ADMIN,
    WHO_MAY,
    is_clinic_page,
    is_staff_route,
    request,
    route_key,
    routes,
    snapshot,
    url,
    who_may,
)


def _with_ids(app):
    return [(rule, method) for rule, method in routes(app) if rule.arguments]


def test_every_route_with_ids_is_known_to_the_walk(app, world):
    assert _with_ids(app), "the app has routes with object ids"
    for rule, _ in _with_ids(app):
        url(app, rule, world["a"].ids())


@pytest.mark.parametrize("role", ROLES)
def test_another_clinics_ids_answer_404_and_change_nothing(app, world, as_user, role):
    a, session = world["a"], as_user("b", role)
    with app.app_context():
        before = snapshot(a.clinic.id)
    for rule, method in _with_ids(app):
        if not is_staff_route(rule):
            continue
        response = request(session, method, url(app, rule, a.ids()))
        assert response.status_code == 404, f"{method} {rule.rule} as B's {role}"
    with app.app_context():
        assert snapshot(a.clinic.id) == before


@pytest.mark.parametrize("missing_id", [999999, 10**30])
def test_missing_ids_answer_404(app, world, as_user, missing_id):
    session = as_user("a", "owner")
    missing = {key: missing_id for key in world["a"].ids()}
    for rule, method in _with_ids(app):
        if is_staff_route(rule):
            assert request(session, method, url(app, rule, missing)).status_code == 404, rule.rule


def test_every_route_has_a_row_in_the_role_table(app):
    in_app = {route_key(rule, method) for rule, method in routes(app)}
    assert sorted(in_app - set(WHO_MAY)) == [], "add these routes to WHO_MAY in tests/routes.py"
    assert sorted(set(WHO_MAY) - in_app) == [], "these WHO_MAY rows name no route of the app"
    for rule, method in routes(app):
        assert (who_may(rule, method) == ADMIN) == rule.rule.startswith("/admin"), rule.rule


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_403_exactly_where_its_role_is_not_allowed(app, world, as_user, role):
    session = as_user("a", role)
    for rule, method in routes(app):
        if not is_staff_route(rule):
            continue
        response = request(session, method, url(app, rule, world["a"].ids()))
        where = f"{method} {rule.rule} as {role}"
        if role in who_may(rule, method):
            assert response.status_code != 403, where
        else:
            assert response.status_code == 403, where
        assert response.status_code < 500, where


def test_every_staff_route_sends_anonymous_users_to_login(app, world):
    client = app.test_client()
    token = csrf_token(client)
    for rule, method in routes(app):
        if not is_staff_route(rule):
            continue
        path = url(app, rule, world["a"].ids())
        if method == "GET":
            response = client.get(path)
        else:
            response = client.post(path, data={"csrf_token": token})
        assert response.status_code == 302, f"{method} {rule.rule}"
        assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("role", ROLES)
def test_every_admin_route_is_404_for_clinic_users(app, world, as_user, role):
    session = as_user("a", role)
    for rule, method in routes(app, prefix="/admin"):
        response = request(session, method, url(app, rule, world["a"].ids()))
        assert response.status_code == 404, f"{method} {rule.rule}"


def test_the_platform_admin_cannot_open_clinic_pages(app, world):
    client = app.test_client()
    assert admin_login(client).status_code == 303
    for rule, method in routes(app):
        if is_clinic_page(rule) and method == "GET":
            response = client.get(url(app, rule, world["a"].ids()))
            assert response.status_code == 403, rule.rule


def test_an_error_is_a_fragment_only_for_an_htmx_fragment_request(as_user):
    """As htmx.render: a boosted link or a history restore gets the whole error page."""
    session = as_user("a", "owner")
    fragment = session.get("/patients/999999999", headers={"HX-Request": "true"})
    assert fragment.status_code == 404 and "<html" not in fragment.get_data(as_text=True)
    for header in ("HX-Boosted", "HX-History-Restore-Request"):
        page = session.get("/patients/999999999", headers={"HX-Request": "true", header: "true"})
        assert page.status_code == 404 and "<html" in page.get_data(as_text=True)
