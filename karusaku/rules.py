"""Patterns that the account rules and the forms share."""
import re

CLINIC_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{1,31}$")
USERNAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
