"""Checking the audit log's hash chains (`flask --app karusaku verify-audit`).

Each clinic's audit_log rows, in id order, form one chain and platform_audit_log another: a
row's row_hash must match its content, and its prev_hash must be the previous row's row_hash
(GENESIS_HASH for the first). The check names the first row of each chain that breaks it.
Platform-wide work: it reads every clinic's rows (on PostgreSQL as the operator's role).
"""
from dataclasses import dataclass
from itertools import groupby

from ..db.connection import platform_role
from ..db.tenancy import all_clinics
from ..models import AuditLog, PlatformAuditLog
from ..models.audit import GENESIS_HASH


@dataclass(frozen=True)
class ChainProblem:
    """The first bad row of one chain. kind: "altered" (its hash does not match its content)
    or "removed" (its prev_hash does not match the row before it)."""

    table: str
    clinic_id: object  # None for the platform chain
    row_id: int
    kind: str
    message: str

    def __str__(self):
        return self.message


class AuditCheck(list):
    """The problems found, one per broken chain (empty: every chain is intact), and how many
    rows and chains were checked."""

    rows = 0
    chains = 0

    @property
    def summary(self):
        return f"audit log intact: {self.rows} rows in {self.chains} chains"


def verify_audit():
    """Walk every chain (each clinic's, then the platform's); run inside an app context."""
    check = AuditCheck()
    with platform_role("operator"):
        with all_clinics():
            rows = AuditLog.select().order_by(AuditLog.clinic, AuditLog.id).iterator()
            for clinic_id, chain in groupby(rows, key=lambda row: row.clinic_id):
                _walk(check, AuditLog, chain, clinic_id)
        _walk(check, PlatformAuditLog, PlatformAuditLog.select().order_by(PlatformAuditLog.id)
              .iterator(), None)
    return check


def chain_problem(model, rows, clinic_id):
    """The first bad row of one chain given in id order (a ChainProblem), or None if intact."""
    check = AuditCheck()
    _walk(check, model, rows, clinic_id)
    return check[0] if check else None


def _walk(check, model, rows, clinic_id):
    """Check one chain, rows in id order; add its first bad row (if any) to check."""
    previous, problem, count = None, None, 0
    for row in rows:
        count += 1
        if problem is None:
            problem = _problem(model, row, previous, clinic_id)
            previous = row
    if count:
        check.chains += 1
        check.rows += count
    if problem is not None:
        check.append(problem)


def _problem(model, row, previous, clinic_id):
    """What is wrong with row, given the row before it in its chain (None for the first)."""
    where = f"clinic {clinic_id}" if clinic_id is not None else "the platform log"
    table = model._meta.table_name
    if row.row_hash != model.compute_hash(row):
        return ChainProblem(table, clinic_id, row.id, "altered",
                            f"row {row.id} of {where} was altered: "
                            "its hash does not match its content")
    if previous is None and row.prev_hash != GENESIS_HASH:
        return ChainProblem(table, clinic_id, row.id, "removed",
                            f"a row before row {row.id} of {where} was removed: it is the "
                            "chain's first row but its prev_hash is not the chain's start")
    if previous is not None and row.prev_hash != previous.row_hash:
        return ChainProblem(table, clinic_id, row.id, "removed",
                            f"a row before row {row.id} of {where} was removed (or row "
                            f"{previous.id} was rewritten): prev_hash does not match row "
                            f"{previous.id}")
    return None


def format_problems(problems):
    """Lines for the command: one per broken chain, naming its first bad row."""
    return [f"{problem.table}: {problem}" for problem in problems]
