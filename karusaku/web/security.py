"""CSRF protection, cookie flags, the security headers of every response, and forms that are
too crowded to parse."""
from flask import abort, current_app, request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect, generate_csrf
from markupsafe import Markup, escape
from werkzeug.middleware.proxy_fix import ProxyFix

csrf = CSRFProtect()

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])


def csrf_field():
    """A form's hidden CSRF field: the csrf() macro of _forms.html, and the grid's forms."""
    return Markup(f'<input type="hidden" name="csrf_token" value="{escape(generate_csrf())}">')


class SessionInterface(SecureCookieSessionInterface):
    """The session cookie is Secure whenever the request itself came over HTTPS."""

    def get_cookie_secure(self, app):
        return bool(app.config["SESSION_COOKIE_SECURE"] or request.is_secure)


def _headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    if request.endpoint != "static":
        # Pages show patient data; a shared tablet must keep no copy of them.
        headers["Cache-Control"] = "no-store"
        headers.add("Vary", "HX-Request")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def _refuse_crowded_forms():
    """werkzeug counts the parts of a multipart form (MAX_FORM_PARTS), not the fields of a
    URL-encoded one: a 1 MB body of `a=1&` is 260,000 fields, 40 MB to parse (8 such posts at
    once took the server to 284 MB). Count them first: 413 past MAX_FORM_PARTS."""
    if request.mimetype == "application/x-www-form-urlencoded":
        if request.get_data(cache=True).count(b"&") >= current_app.config["MAX_FORM_PARTS"]:
            abort(413)


def init_app(app):
    app.before_request(_refuse_crowded_forms)  # before CSRF reads the form
    csrf.init_app(app)
    app.jinja_env.globals["csrf_field"] = csrf_field
    app.session_interface = SessionInterface()
    app.after_request(_headers)
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
