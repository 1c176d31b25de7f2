"""What every template can use: the navigation, date formats, labels."""
from functools import lru_cache

from flask import current_app, request, url_for
from flask_login import current_user

from ..japanese import WEEKDAYS_JA
from . import notices
from .presenters import history_label, revision_changes

# (endpoint, label, roles that see it); entries whose endpoint is not registered are skipped.
NAVIGATION = [
    ("main.home", "今日", None),
    ("schedule.day", "予約表", None),
    ("patients.index", "患者", None),
    ("therapists.index", "施術者", None),
    ("users.index", "スタッフ", {"owner"}),
    ("records.templates", "定型文", {"owner"}),
    ("reports.index", "レポート", {"owner"}),
    ("audit.index", "監査ログ", {"owner"}),
    ("clinic.settings", "設定", {"owner"}),
]


def navigation():
    """The navigation entries the current user may open."""
    if not current_user.is_authenticated or current_user.is_platform_admin:
        return []
    views = current_app.view_functions
    return [(endpoint, label) for endpoint, label, allowed in NAVIGATION
            if endpoint in views and (allowed is None or current_user.role in allowed)]


def date_ja(value):
    """2026年11月26日(木)"""
    if value is None:
        return ""
    return f"{value.year}年{value.month}月{value.day}日({WEEKDAYS_JA[value.weekday()]})"


def hhmm(value):
    return value.strftime("%H:%M") if value else ""


_ID = 987654321  # a stand-in id, replaced by "{}" in url_pattern()


def url_pattern(endpoint, id_name, **values):
    """url_for(endpoint, ...) with "{}" where the id named id_name goes, for a link repeated
    on every row of a page (url_for costs a few microseconds a call): pattern.format(row.id)."""
    return _url(request.script_root, endpoint, ((id_name, _ID), *sorted(values.items()))
                ).replace(str(_ID), "{}")


def fixed_url(endpoint, **values):
    """url_for() of a link that is the same on every page (the layout's scripts and menu),
    worked out once per endpoint and values."""
    return _url(request.script_root, endpoint, tuple(sorted(values.items())))


@lru_cache(maxsize=256)
def _url(script_root, endpoint, values):
    return url_for(endpoint, **dict(values))


def init_app(app):
    app.jinja_env.globals["navigation"] = navigation
    app.jinja_env.globals["flashed_messages"] = notices.messages
    app.jinja_env.globals["url_pattern"] = url_pattern
    app.jinja_env.globals["fixed_url"] = fixed_url
    app.jinja_env.globals["history_label"] = history_label
    app.jinja_env.globals["revision_changes"] = revision_changes
    app.jinja_env.filters["date_ja"] = date_ja
    app.jinja_env.filters["hhmm"] = hhmm
