"""Model bases bound to the app's database proxy, and the field kinds the tables share."""
from peewee import (
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

from ..clock import now
from ..db.connection import database
from ..db.prepared import PreparedInsert, prepared
from ..db.tenancy import TenantModel


class _FindById:
    @prepared(one=True)
    def with_id(cls, row_id):
        """The row with this id (the current clinic's, for a tenant table), or None."""
        return cls.select().where(cls.id == row_id)


class BaseModel(_FindById, Model):
    """A table that belongs to no clinic (clinics, platform admins, sessions)."""

    class Meta:
        database = database
        legacy_table_names = False


class ClinicModel(_FindById, TenantModel):
    """A table whose rows belong to one clinic; every query is scoped to the current clinic."""

    insert_query = PreparedInsert

    class Meta:
        database = database
        legacy_table_names = False


def created_at():
    return DateTimeField(default=now)


__all__ = [
    "BaseModel", "ClinicModel", "BooleanField", "CharField", "DateField", "DateTimeField",
    "ForeignKeyField", "IntegerField", "TextField", "created_at", "now",
]
