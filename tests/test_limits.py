"""How much a request may carry (MAX_CONTENT_LENGTH, MAX_FORM_PARTS): the largest legitimate
form, a visit record with every note full and every body region marked, is saved; past the
limits, a short Japanese 413 before the form is parsed. (run.py's waitress refuses an oversized
body before reading it: test_run.py.)"""
from urllib.parse import urlencode

from karusaku.body_chart import REGIONS
from karusaku.models.records import FIELDS, MAX_TEXT
from karusaku.settings import MAX_BODY

from .test_records import record_form


def too_large_in_japanese(response):
    assert response.status_code == 413
    assert "送信された内容が大きすぎます" in response.get_data(as_text=True)


def test_the_largest_legitimate_form_a_full_visit_record_is_saved(as_user, world):
    a = world["a"]
    form = record_form(a, **{name: "施" * MAX_TEXT for name in FIELDS},
                       **{f"mark-{region}": "numbness" for region in REGIONS})
    session = as_user("a", "therapist")
    size = len(urlencode({**form, "csrf_token": session.token}))
    assert 400_000 < size < MAX_BODY
    response = session.post(f"/patients/{a.patient.id}/records", data=form)
    assert response.status_code == 303, response.get_data(as_text=True)[:500]


def test_a_body_over_the_limit_is_refused_with_413(app):
    too_large_in_japanese(app.test_client().post(
        "/login", data={"clinic_code": "x", "password": "p" * (MAX_BODY + 1)}))


def test_a_form_with_more_fields_than_any_page_has_is_refused_with_413(app):
    body = "&".join(f"f{n}=1" for n in range(5000))
    too_large_in_japanese(app.test_client().post(
        "/login", data=body, content_type="application/x-www-form-urlencoded"))
