"""Changes to a clinic that write other tables too: the owner's settings (with the clinic's
audit row), and the operator's plan and status (with platform audit rows; suspending ends the
staff's login sessions). Above clinic.py, accounts.py and audit.py, which all import clinic.py."""
from ..db.connection import database
from .accounts import LoginSession
from .audit import AuditLog, PlatformAuditLog
from .clinic import CLINIC_STATUSES, SETTINGS_FIELDS, Clinic


def _changes(clinic_id, wanted):
    """{column: [stored, wanted]} for each wanted value that differs from the stored row's."""
    stored = Clinic.get_by_id(clinic_id)
    return {key: [getattr(stored, key), value] for key, value in wanted.items()
            if getattr(stored, key) != value}


def revise_settings(clinic_id, **fields):
    """Change one clinic's settings (only SETTINGS_FIELDS) and log what changed."""
    unknown = set(fields) - set(SETTINGS_FIELDS)
    if unknown:
        raise TypeError(f"not a clinic setting: {', '.join(sorted(unknown))}")
    with database.atomic():
        changed = _changes(clinic_id, fields)
        Clinic.update(**fields).where(Clinic.id == clinic_id).execute()
        AuditLog.append("settings_changed", "clinic", clinic_id, {"changed": changed})


def change_plan(clinic, subscription_plan, max_patients):
    """Set the plan and the patient limit override (None: the plan's limit); logs
    before/after in the platform audit log. Returns what changed ({} when nothing did)."""
    wanted = {"subscription_plan": subscription_plan, "max_patients": max_patients}
    with database.atomic():
        changed = _changes(clinic.id, wanted)
        if changed:
            Clinic.update(**wanted).where(Clinic.id == clinic.id).execute()
            PlatformAuditLog.append("clinic_plan_changed", "clinic", clinic.id,
                                    {"changed": changed})
    return changed


def set_status(clinic, status):
    """Suspend or reactivate the clinic. Suspending ends every login session of its users.
    Logs before/after; returns False when the clinic already had that status."""
    if status not in CLINIC_STATUSES:
        raise ValueError(f"not a clinic status: {status}")
    with database.atomic():
        before = Clinic.get_by_id(clinic.id).status
        if before == status:
            return False
        Clinic.update(status=status).where(Clinic.id == clinic.id).execute()
        ended = 0
        if status != "active":
            ended = LoginSession.delete().where(LoginSession.clinic_id == clinic.id).execute()
        action = "clinic_reactivated" if status == "active" else "clinic_suspended"
        PlatformAuditLog.append(action, "clinic", clinic.id,
                                {"status": [before, status], "sessions_ended": ended})
    return True
