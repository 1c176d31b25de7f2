"""`GET /healthz`: "ok" as plain text, for load balancers and as the benchmark's bare endpoint.

No login, no session, no database query: it answers as long as the process serves requests.
"""
from flask import Blueprint, make_response

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    response = make_response("ok")
    response.mimetype = "text/plain"
    return response
