"""The forms layer: reading and validating requests, one module per area, Japanese messages.

A route reads the request through a form here (`forms.patients.read_patient_form`, ...), gets
plain values or `Invalid` (a message per bad field), and hands the values to a model. The
reader itself (`FormReader`, `Invalid`, the parse_* functions) is `forms.reader`, re-exported
here. Models never import this package.
"""
from .reader import (
    FIRST_DAY,
    INTEGER_MAX,
    LAST_DAY,
    FormReader,
    Invalid,
    page_number,
    parse_date,
    parse_datetime,
    parse_integer,
    parse_month,
)

__all__ = ["FIRST_DAY", "INTEGER_MAX", "LAST_DAY", "FormReader", "Invalid", "page_number",
           "parse_date", "parse_datetime", "parse_integer", "parse_month"]
