"""views.url_pattern / fixed_url: cached URLs give what url_for gives, under any script root."""
from flask import url_for

from karusaku.web.views import fixed_url, url_pattern


def test_a_pattern_formats_to_url_for(app):
    with app.test_request_context("/"):
        pattern = url_pattern("records.show", "record_id")
        assert pattern.format(42) == url_for("records.show", record_id=42)
        assert url_pattern("schedule.set_status", "appointment_id").format(7) == url_for(
            "schedule.set_status", appointment_id=7)
        assert fixed_url("static", filename="app.css") == url_for("static", filename="app.css")


def test_a_mounted_app_gets_its_own_prefix(app):
    with app.test_request_context("/", environ_overrides={"SCRIPT_NAME": "/karte"}):
        assert fixed_url("static", filename="app.js") == "/karte/static/app.js"
        assert url_pattern("records.show", "record_id").format(3) == "/karte/records/3"
    with app.test_request_context("/"):
        assert fixed_url("static", filename="app.js") == "/static/app.js"
