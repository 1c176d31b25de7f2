"""Clinic-local time. Every stored timestamp is naive Asia/Tokyo time, to the second."""
from datetime import datetime
from zoneinfo import ZoneInfo

TOKYO = ZoneInfo("Asia/Tokyo")


def now():
    """The current clinic-local time, without microseconds."""
    return datetime.now(TOKYO).replace(tzinfo=None, microsecond=0)


def today():
    """The current clinic-local date."""
    return now().date()
