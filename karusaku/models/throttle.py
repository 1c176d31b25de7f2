"""Counters kept per client address and time window, and the lockouts of device cookies.

Platform tables (no clinic_id): they are read before any clinic is known. Every change is one
short write transaction, and an upsert, so that several app processes count together.
"""
from datetime import datetime, time, timedelta

from ..db.connection import database
from .base import BaseModel, CharField, DateTimeField, IntegerField, now


def window_start(moment, minutes):
    """The start of the `minutes`-long window (minutes divides a day) that holds moment."""
    midnight = datetime.combine(moment.date(), time())
    elapsed = (moment - midnight) // timedelta(minutes=minutes)
    return midnight + elapsed * timedelta(minutes=minutes)


class AddressCounter(BaseModel):
    """How many times something happened for an address in a window ('failures', 'audited')."""

    counter = CharField()
    address = CharField()
    window_start = DateTimeField()
    hits = IntegerField(default=0)

    class Meta:
        table_name = "login_throttle"

    @classmethod
    def hits_in(cls, counter, address, start):
        """The count for this address and window (0 when nothing happened)."""
        return (cls.select(cls.hits)
                .where(cls.counter == counter, cls.address == address, cls.window_start == start)
                .scalar() or 0)

    @classmethod
    def hit(cls, counter, address, start):
        """Count one more; return the new count. Runs in the caller's transaction, or its own."""
        with database.atomic():
            (cls.insert(counter=counter, address=address, window_start=start, hits=1)
             .on_conflict(conflict_target=[cls.counter, cls.address, cls.window_start],
                          update={cls.hits: cls.hits + 1})
             .execute())
            return cls.hits_in(counter, address, start)

    @classmethod
    def closed(cls, counter, before, limit):
        """Up to `limit` rows of windows that started before `before`, oldest first."""
        return list(cls.select().where(cls.counter == counter, cls.window_start < before)
                    .order_by(cls.window_start).limit(limit))

    @classmethod
    def forget(cls, counter, address, start):
        """Delete the row; True when this call deleted it (not another process before it)."""
        return cls.delete().where(cls.counter == counter, cls.address == address,
                                  cls.window_start == start).execute() == 1

    @classmethod
    def forget_before(cls, counter, before):
        cls.delete().where(cls.counter == counter, cls.window_start < before).execute()


class DeviceLockout(BaseModel):
    """Failures in a row of one device cookie (by its nonce), and its lock."""

    nonce = CharField(unique=True)
    failed_logins = IntegerField(default=0)
    locked_until = DateTimeField(null=True)
    updated_at = DateTimeField()

    class Meta:
        table_name = "device_lockouts"

    @classmethod
    def is_locked(cls, nonce):
        until = cls.select(cls.locked_until).where(cls.nonce == nonce).scalar()
        return until is not None and until > now()

    @classmethod
    def count_failure(cls, nonce, limit, lock_for):
        """One more failure in a row; at `limit` the cookie is locked. Returns the lock's end
        when this failure locked it, else None."""
        moment = now()
        with database.atomic():
            cls.delete().where(cls.updated_at < moment - timedelta(days=1),
                               cls.locked_until.is_null() | (cls.locked_until < moment)).execute()
            (cls.insert(nonce=nonce, failed_logins=1, updated_at=moment)
             .on_conflict(conflict_target=[cls.nonce],
                          update={cls.failed_logins: cls.failed_logins + 1,
                                  cls.updated_at: moment})
             .execute())
            failures = cls.select(cls.failed_logins).where(cls.nonce == nonce).scalar()
            if failures < limit:
                return None
            until = moment + lock_for
            cls.update(failed_logins=0, locked_until=until).where(cls.nonce == nonce).execute()
            return until

    @classmethod
    def clear(cls, nonce):
        cls.delete().where(cls.nonce == nonce).execute()
