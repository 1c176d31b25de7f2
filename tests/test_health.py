"""GET /healthz: the bare endpoint for load balancers and the benchmark."""
import urllib.request

from karusaku.db.connection import database


def _check(status, content_type, headers, body):
    assert status == 200
    assert body == b"ok"
    assert content_type.startswith("text/plain")
    assert "Set-Cookie" not in headers
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"]
    assert headers["Cache-Control"] == "no-store"


def test_healthz_answers_ok_without_login_or_session_cookie(app):
    response = app.test_client().get("/healthz")
    _check(response.status_code, response.content_type, response.headers, response.get_data())


def test_healthz_runs_no_query(app, monkeypatch):
    client = app.test_client()
    client.get("/healthz")  # this thread's connection is open from here on

    def no_query(*args, **kwargs):
        raise AssertionError("/healthz ran a query")

    monkeypatch.setattr(database.obj, "execute_sql", no_query)
    assert client.get("/healthz").status_code == 200


def test_healthz_head_has_no_body(app):
    response = app.test_client().head("/healthz")
    assert response.status_code == 200
    assert response.get_data() == b""


def test_healthz_through_waitress(live_server):
    with urllib.request.urlopen(f"{live_server}/healthz", timeout=10) as response:
        body = response.read()
        _check(response.status, response.headers["Content-Type"], response.headers, body)
        assert response.headers["Server"] == "waitress"
