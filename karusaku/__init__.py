"""Karusaku: charts and bookings for small manual-therapy clinics.

Imports go at the top of a module. One inside a function is for an optional driver or a
deliberate late import only, with a one-line comment saying why (an import that dodges a cycle
means the layers are wrong). Templates are the other way round: `{% from … import %}` goes
inside the block that uses it, since a block rendered alone as an htmx fragment does not run the
template's top-level code.
"""
from flask import Flask

from . import body_chart
from .blueprints import (
    admin,
    audit,
    auth,
    clinic,
    health,
    main,
    patients,
    records,
    reports,
    schedule,
    therapists,
    users,
)
from .db import connection as db
from .db import migrations
from .ops import cli
from .settings import from_environment, secret_key
from .web import devices, errors, security, sessions, views

BLUEPRINTS = (auth.bp, main.bp, schedule.bp, patients.bp, records.bp, therapists.bp, users.bp,
              clinic.bp, reports.bp, audit.bp, admin.bp, health.bp)


def create_app(config=None):
    """The app, configured from the environment and then from `config`. Refuses to start
    (settings.StartupRefused, one line) on a bad setting or a database it cannot serve, before
    writing any file."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(from_environment(app.instance_path))
    if config:
        app.config.update(config)
    db.init_app(app)
    migrations.refuse_newer_schema()
    if not app.config.get("SECRET_KEY") and not db.is_missing():  # none needed until init-db
        app.config["SECRET_KEY"] = secret_key(app.instance_path)
    if app.config.get("SECRET_KEY"):
        db.prove_clinics_with(app.config["SECRET_KEY"])
    security.init_app(app)
    sessions.init_app(app)
    devices.init_app(app)
    views.init_app(app)
    body_chart.init_app(app)
    errors.init_app(app)
    cli.init_app(app)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    return app
