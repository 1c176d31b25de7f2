"""Prepared queries: the hot paths' selects, turned into SQL once and then run with new values.

peewee builds a query's SQL anew on every execution, walking a node per column and condition:
about 0.1–0.3 ms for one of the pages' selects, more than SQLite then takes to run it. A query
whose shape never changes (only its values do) can be compiled once:

    class Appointment(TenantModel):
        @prepared
        def _of_day(cls, start, end):
            return cls.select(cls.id, ...).where(cls.appointment_date >= start, ...)

    Appointment._of_day(start=..., end=...)   # -> a list of rows, as iterating the query gives

An UPDATE or DELETE returns how many rows it touched; `@prepared(one=True)` returns the first
row or None. A tenant table's one-row insert (Model.create, save) is compiled the same way by
PreparedInsert, the insert class of models.base.ClinicModel.

The builder receives a `Param` for each of its arguments and must use them only as values in
the query (not in Python logic: compute those before the call). Its other values are constants
of the SQL. The tenant scope stays where it is: the compiled SQL holds the clinic condition
(tenancy.py adds it as a parameter while preparing), and each run fills it with the current
clinic, or raises NoClinicInContext. One compiled form is kept per model, database kind and
scoped/unscoped state.
"""
import functools
import inspect

from peewee import ROW, Node, _WriteQuery

from . import tenancy
from .connection import database


class Param(Node):
    """A named placeholder, filled when the prepared query runs."""

    def __init__(self, name):
        self.name = name

    def __sql__(self, ctx):
        ctx._values.append(self)
        return ctx.literal(ctx.state.param or "?")


CLINIC = Param("clinic")  # the tenant scope's value: the current clinic when the query runs


def prepared(build=None, *, rows=None, one=False):
    """A classmethod running build's query, compiled once; see the module's docstring.

    one: the first row, or None when there is none, instead of the list.

    rows: a function making each result row from the driver's own row (its columns in the
    SELECT's order, unconverted), instead of peewee's models or tuples: for the listings with
    dozens of rows, where peewee's per-column conversion costs more than the query."""
    if build is None:
        return functools.partial(prepared, rows=rows, one=one)
    names = list(inspect.signature(build).parameters)[1:]
    compiled = {}

    @classmethod
    @functools.wraps(build)
    def run(cls, *args, **values):
        values.update(zip(names, args))
        key = (cls, type(database.obj), tenancy.is_unscoped())
        entry = compiled.get(key)
        if entry is None:
            with tenancy.preparing(CLINIC):
                query = build(cls, **{name: Param(name) for name in names})
                sql, slots = query.sql()
            entry = compiled[key] = (query, sql, slots)
        query, sql, slots = entry
        cursor = database.execute_sql(sql, [_fill(slot, values) for slot in slots])
        if isinstance(query, _WriteQuery):  # an UPDATE or DELETE: how many rows it touched
            return database.rows_affected(cursor)
        if rows is not None:
            found = [rows(*row) for row in cursor]
        else:
            found = list(query._get_cursor_wrapper(cursor))
        if one:
            return found[0] if found else None
        return found

    return run


def _fill(slot, values):
    if slot is CLINIC:
        return tenancy.current_clinic_id()
    return values[slot.name] if isinstance(slot, Param) else slot


class PreparedInsert(tenancy.ScopedInsert):
    """A one-row insert (what Model.create and save() do) whose SQL is compiled once per model
    and set of columns; the values go through each field's db_value as peewee would convert
    them. Anything else (several rows, ON CONFLICT, RETURNING asked for, a column left to its
    default, an SQL expression as a value) runs as peewee builds it."""

    _compiled = {}

    def _execute(self, database):
        row = self._insert
        if (not isinstance(row, dict) or self._on_conflict is not None or self._return_cursor
                or self._as_rowcount
                or any(isinstance(value, Node) for value in row.values())
                or not self.model._meta.defaults.keys() <= row.keys()):
            return super()._execute(database)
        key = (self.model, type(database.obj), tenancy.is_unscoped(), frozenset(row))
        entry = self._compiled.get(key)
        if entry is None:
            entry = self._compiled[key] = self._compile(row, database.returning_clause)
        sql, fields = entry
        cursor = database.execute_sql(sql, [field.db_value(row[field]) for field in fields])
        if not database.returning_clause:  # SQLite: the rowid, as peewee reads it
            return cursor.lastrowid
        inserted = cursor.fetchone()  # PostgreSQL: RETURNING the new id
        return inserted[0] if inserted else None

    def _compile(self, row, returning):
        by_name = {field.name: field for field in row}
        twin = tenancy.ScopedInsert(self.model, {field: Param(field.name) for field in row})
        if returning:
            twin._returning = (self.model._meta.primary_key,)
            twin._row_type = ROW.TUPLE
        sql, slots = twin.sql()
        return sql, [by_name[slot.name] for slot in slots]
