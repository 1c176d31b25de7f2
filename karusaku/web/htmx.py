"""htmx requests and responses: when to render a fragment, and redirects htmx can follow.

A fragment is for an htmx request that is not boosted and not a history restore; every other
request (including a reload of a pushed URL) gets the full page from the same template.
"""
import flask
from flask import make_response, render_template, request
from jinja2_fragments.flask import render_block


def is_htmx():
    return request.headers.get("HX-Request") == "true"


def wants_fragment():
    return (is_htmx() and request.headers.get("HX-Boosted") != "true"
            and request.headers.get("HX-History-Restore-Request") != "true")


def render(template, block=None, status=200, **context):
    """The page, or only `block` of it for an htmx fragment request."""
    if block and wants_fragment():
        body = render_block(template, block, **context)
    else:
        body = render_template(template, **context)
    return make_response(body, status)


def redirect(location, status=200):
    """A response that makes htmx load location as a full page (a 3xx would be swapped in)."""
    response = make_response("", status)
    response.headers["HX-Redirect"] = location
    return response


def see_other(location):
    """After a successful POST: 303 for a plain form, HX-Redirect for htmx."""
    if is_htmx():
        return redirect(location)
    return flask.redirect(location, code=303)
