"""Who may open what: clinic staff by role, platform admins on /admin only.

An object of another clinic is simply not there: when a role may not use a route, the ids in
the URL are looked up first, so a missing (or another clinic's) object answers 404, not 403.
"""
from functools import wraps

from flask import abort
from flask_login import current_user

from .sessions import login_manager

# URL arguments that name a tenant row, and the model that row lives in.
VIEW_ARG_MODELS = {}


def names_object(arg, model):
    """Declare that a URL argument `arg` is the id of a `model` row."""
    VIEW_ARG_MODELS[arg] = model


def require_staff():
    """Use as a blueprint's before_request: a logged-in clinic user, or the login page."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if current_user.is_platform_admin:
        abort(403)
    return None


def roles(*allowed):
    """Only these roles may use the route (after the objects in its URL are found)."""

    def decorator(view):
        @wraps(view)
        def wrapped(**kwargs):
            if current_user.role not in allowed:
                for arg, value in kwargs.items():
                    if arg in VIEW_ARG_MODELS:
                        get_or_404(VIEW_ARG_MODELS[arg], value)
                abort(403)
            return view(**kwargs)

        wrapped.allowed_roles = allowed
        return wrapped

    return decorator


def get_or_404(model, object_id):
    """The current clinic's row, or 404 (for a missing row and another clinic's alike)."""
    if not 0 < object_id < 2**63:  # past SQLite's INTEGER: no such row
        abort(404)
    row = model.with_id(object_id)
    if row is None:
        abort(404)
    return row
