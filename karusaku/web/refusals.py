"""A refused request, answered one way: the status of each refusal is written here once, and a
route names the page that shows its form again.

    @bp.post("/patients")
    @answers_refusals(lambda status, errors: _form(values=_typed(), errors=errors, status=status))
    def create():
        patient = Patient.register(**read_patient_form(request.form))
        ...

Bad fields (`Invalid`) keep their messages per field; any other refusal's message goes on the
field the route names for its kind (`on={BookingConflict: "appointment_date"}`), on the
account rule's own field (AccountError), or on "form".
"""
from functools import wraps

from ..accounts import AccountError
from ..forms import Invalid
from ..models.appointments import BookingConflict, StatusNotAllowed
from ..models.plan_limits import PlanLimitReached
from ..models.records import EditConflict, NotAllowed

STATUSES = {
    Invalid: 422, StatusNotAllowed: 422, AccountError: 422,  # the request itself is wrong
    BookingConflict: 409, EditConflict: 409,  # another booking or save came first
    PlanLimitReached: 403, NotAllowed: 403,  # the plan's limit, or a rule about who may
}
REFUSALS = tuple(STATUSES)


def status_of(refusal):
    return next(status for kind, status in STATUSES.items() if isinstance(refusal, kind))


def errors_of(refusal, on=None):
    """The messages per field: Invalid's own, else the refusal's message on its field."""
    if isinstance(refusal, Invalid):
        return dict(refusal.errors)
    field = next((name for kind, name in (on or {}).items() if isinstance(refusal, kind)), None)
    return {field or getattr(refusal, "field", None) or "form": str(refusal)}


def answers_refusals(page, on=None):
    """Route decorator: a refusal the route raises is answered by
    page(status, errors, **the route's arguments)."""
    def decorate(view):
        @wraps(view)
        def answered(**view_args):
            try:
                return view(**view_args)
            except REFUSALS as refusal:
                return page(status_of(refusal), errors_of(refusal, on), **view_args)
        return answered
    return decorate
