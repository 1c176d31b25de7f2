"""Model bases bound to the app's database proxy, and the field kinds the tables share."""
from peewee import (
    BooleanField, CharField, DateField, DateTimeField, ForeignKeyField, IntegerField, Model,
    TextField,
)

from ..clock import now
from ..db import database
from ..tenancy import TenantModel


class BaseModel(Model):
    """A table that belongs to no clinic (clinics, platform admins, sessions)."""

    class Meta:
        database = database
        legacy_table_names = False


class ClinicModel(TenantModel):
    """A table whose rows belong to one clinic; every query is scoped to the current clinic."""

    class Meta:
        database = database
        legacy_table_names = False


def created_at():
    return DateTimeField(default=now)


__all__ = [
    "BaseModel", "ClinicModel", "BooleanField", "CharField", "DateField", "DateTimeField",
    "ForeignKeyField", "IntegerField", "TextField", "created_at", "now",
]
