"""Tenant scoping: every query of a tenant model is limited to the current clinic.

The current clinic is set from the logged-in user for each request (never from the URL, a form
or a header). A tenant query with no clinic in context raises NoClinicInContext: it fails
closed instead of reading every clinic's rows. The scope is added when the SQL is generated, so
no later `.where()` can widen it; what could widen or bypass it (orwhere, alias, raw SQL,
REPLACE, an upsert not keyed by clinic, truncate and drop) is refused.

Going unscoped is explicit: `with all_clinics():` (backups, migrations, the audit check, the
data generator; the admin counts on SQLite). Grep for it. On PostgreSQL it needs a role that
row-level security does not hold, `db.platform_role("operator")`: the web app's role refuses it.
"""
from contextlib import contextmanager
from contextvars import ContextVar

from peewee import Model, ModelDelete, ModelInsert, ModelSelect, ModelUpdate

_current_clinic = ContextVar("current_clinic", default=None)
_unscoped = ContextVar("unscoped", default=False)
_clinic_placeholder = ContextVar("clinic_placeholder", default=None)


class NoClinicInContext(RuntimeError):
    """A tenant query ran with no clinic in context."""


def set_current_clinic(clinic_id):
    """Make clinic_id the current clinic; returns a token for reset_current_clinic."""
    return _current_clinic.set(clinic_id)


def reset_current_clinic(token):
    _current_clinic.reset(token)


def current_clinic_id():
    """The current clinic's id; raises when there is none (and scoping is on)."""
    clinic_id = _current_clinic.get()
    if clinic_id is None:
        raise NoClinicInContext("tenant query with no clinic in context")
    return clinic_id


def is_unscoped():
    return _unscoped.get()


def current_scope():
    """(clinic id or None, unscoped?): what the database connection must be told (PostgreSQL's
    row-level security reads it from the connection; see db.PostgresDatabase)."""
    return _current_clinic.get(), _unscoped.get()


@contextmanager
def clinic_context(clinic_id):
    """Run a block as clinic_id (command-line work, tests, the login step)."""
    token = _current_clinic.set(clinic_id)
    try:
        yield
    finally:
        _current_clinic.reset(token)


@contextmanager
def all_clinics():
    """Run a block with tenant scoping off. For platform-wide work only."""
    token = _unscoped.set(True)
    try:
        yield
    finally:
        _unscoped.reset(token)


@contextmanager
def preparing(placeholder):
    """Compile the clinic condition with `placeholder` (a prepared query's parameter, filled
    with the current clinic at each run) instead of the current clinic's id; see prepared.py."""
    token = _clinic_placeholder.set(placeholder)
    try:
        yield
    finally:
        _clinic_placeholder.reset(token)


def _with_scope(query):
    """A copy of query whose WHERE also requires the current clinic."""
    if is_unscoped():
        return query
    scoped = query.clone()
    clinic = _clinic_placeholder.get()
    clause = query.model.clinic == (current_clinic_id() if clinic is None else clinic)
    scoped._where = clause if query._where is None else (clause & query._where)
    return scoped


class _ScopedSQL:
    def __sql__(self, ctx):
        return super(_ScopedSQL, _with_scope(self)).__sql__(ctx)


class ScopedSelect(_ScopedSQL, ModelSelect):
    def orwhere(self, *expressions):
        raise TypeError("orwhere() would OR away the clinic scope; use where(a | b)")


class ScopedUpdate(_ScopedSQL, ModelUpdate):
    pass


class ScopedDelete(_ScopedSQL, ModelDelete):
    pass


class ScopedInsert(ModelInsert):
    """An insert that may touch an existing row only of the current clinic: REPLACE could
    delete another clinic's row, so outside all_clinics() only ON CONFLICT IGNORE and an
    upsert whose conflict target names the clinic column (a unique index that includes
    clinic_id, so the row it meets has the clinic the insert got) are allowed."""

    def on_conflict(self, action=None, update=None, preserve=None, **kwargs):
        if not is_unscoped() and not _is_ignore(action, update, preserve) \
                and not _is_scoped_upsert(action, update, preserve, **kwargs):
            raise TypeError("an upsert or REPLACE of a tenant row is not scoped: name the clinic "
                            "in conflict_target, or use all_clinics()")
        return super().on_conflict(action=action, update=update, preserve=preserve, **kwargs)

    def on_conflict_replace(self, replace=True):
        if replace and not is_unscoped():
            raise TypeError("a REPLACE of a tenant row is not scoped; use all_clinics()")
        return super().on_conflict_replace(replace)


def _is_ignore(action, update, preserve):
    return not update and not preserve and (action or "").upper() in ("", "IGNORE")


def _is_scoped_upsert(action, update, preserve, conflict_target=None, conflict_where=None,
                      conflict_constraint=None, where=None):
    """ON CONFLICT (clinic_id, …) DO UPDATE that leaves the clinic column alone."""
    changed = [*(update or {}), *(preserve or ())]
    return ((action or "").upper() in ("", "UPDATE") and conflict_constraint is None
            and any(_is_clinic_key(column) for column in conflict_target or ())
            and not any(_is_clinic_key(column) for column in changed))


def _is_clinic_key(key):
    """True for any spelling of the clinic column: the field, its name or the table column."""
    return getattr(key, "name", key) in ("clinic", "clinic_id")


class TenantModel(Model):
    """Base of every table with a clinic_id. Subclasses declare `clinic` as their first field."""

    insert_query = ScopedInsert  # the class of insert(); prepared.PreparedInsert caches its SQL

    @classmethod
    def select(cls, *fields):
        is_default = not fields
        return ScopedSelect(cls, fields or cls._meta.sorted_fields, is_default=is_default)

    @classmethod
    def update(cls, __data=None, **update):
        data = cls._normalize_data(__data, update)
        kept = {k: v for k, v in data.items() if not _is_clinic_key(k)}  # rows never move clinic
        if data and not kept:
            raise TypeError("a tenant row's clinic cannot be changed")
        return ScopedUpdate(cls, kept)

    @classmethod
    def delete(cls):
        return ScopedDelete(cls)

    @classmethod
    def insert(cls, __data=None, **insert):
        data = cls._normalize_data(__data, insert)
        if not is_unscoped():
            data = {k: v for k, v in data.items() if not _is_clinic_key(k)}
            data[cls.clinic] = current_clinic_id()
        return cls.insert_query(cls, data)

    @classmethod
    def insert_many(cls, rows, fields=None):
        """Rows as dicts, or as sequences in the order of `fields`; each gets the current
        clinic, whatever clinic value it carried."""
        if is_unscoped():
            return ScopedInsert(cls, insert=rows, columns=fields)
        clinic_id = current_clinic_id()
        if fields is None:
            rows = [{**{k: v for k, v in cls._normalize_data(row, {}).items()
                        if not _is_clinic_key(k)}, cls.clinic: clinic_id} for row in rows]
            return ScopedInsert(cls, insert=rows)
        fields = [cls._meta.combined[f] if isinstance(f, str) else f for f in fields]
        at = next((i for i, f in enumerate(fields) if _is_clinic_key(f)), None)
        if at is None:
            fields.append(cls.clinic)
            rows = [(*row, clinic_id) for row in rows]
        else:
            rows = [(*row[:at], clinic_id, *row[at + 1:]) for row in map(tuple, rows)]
        return ScopedInsert(cls, insert=rows, columns=fields)

    @classmethod
    def insert_from(cls, query, fields):
        if not is_unscoped():
            raise TypeError("insert_from() is not scoped; use it inside all_clinics()")
        return super().insert_from(query, fields)

    @classmethod
    def alias(cls, alias=None):
        raise TypeError("an alias of a tenant model would not be scoped")

    @classmethod
    def raw(cls, sql, *params):
        if not is_unscoped():
            raise TypeError("raw SQL on a tenant model is not scoped; use it inside all_clinics()")
        return super().raw(sql, *params)

    @classmethod
    def truncate_table(cls, **options):
        if not is_unscoped():
            raise TypeError("truncate_table() empties every clinic's rows; use all_clinics()")
        return super().truncate_table(**options)

    @classmethod
    def drop_table(cls, safe=True, drop_sequences=True, **options):
        if not is_unscoped():
            raise TypeError("drop_table() drops every clinic's rows; use all_clinics()")
        return super().drop_table(safe=safe, drop_sequences=drop_sequences, **options)

    def save(self, force_insert=False, only=None):
        if not is_unscoped() and (force_insert or self._pk is None):
            self.clinic_id = current_clinic_id()
        return super().save(force_insert=force_insert, only=only)


__all__ = [
    "NoClinicInContext", "TenantModel", "all_clinics", "clinic_context",
    "current_clinic_id", "set_current_clinic", "reset_current_clinic",
]
