"""PostgreSQL: the proof that goes with a connection's clinic (schema/postgresql/0010).

Row-level security gives a statement the clinic of `karusaku.clinic_id` only when
`karusaku.clinic_proof` is HMAC-SHA256(key, '<clinic id>:<backend pid>'). The key is derived
from the app's secret key; init-db writes it into the owner's table karusaku_secret, which the
app's role cannot read, and the app computes proofs here. So SQL run as the app's role can
name another clinic but cannot prove it.
"""
import hashlib
import hmac

from ..settings import StartupRefused

_PURPOSE = b"karusaku clinic proof"
_BLOCK = 64  # SHA-256's block size: HMAC pads the key to it


def key_of(secret_key):
    """The proof key derived from the app's secret key (never the secret key itself)."""
    secret = secret_key.encode() if isinstance(secret_key, str) else secret_key
    return hmac.new(secret, _PURPOSE, hashlib.sha256).digest()


def proof(key, clinic_id, backend_pid):
    """The hex proof of clinic_id on the connection whose backend is backend_pid."""
    return hmac.new(key, f"{clinic_id}:{backend_pid}".encode(), hashlib.sha256).hexdigest()


def _pads(key):
    padded = key.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in padded), bytes(b ^ 0x5C for b in padded)


def install(db, secret_key):
    """init-db's step, as the owner: the key of this secret key into karusaku_secret (when the
    schema has the table), so that the app's proofs match."""
    if db.execute_sql("SELECT to_regclass('karusaku_secret') IS NULL").fetchone()[0]:
        return
    inner, outer = _pads(key_of(secret_key))
    db.execute_sql("UPDATE karusaku_secret SET inner_pad = %s, outer_pad = %s", (inner, outer))


def check(db):
    """Start-up: refuse, in one line, when the database's key is not this app's (init-db was
    run with another secret key): every clinic would look empty."""
    if db.execute_sql("SELECT to_regprocedure('karusaku_clinic_id()') IS NULL").fetchone()[0]:
        return
    clinic_id = 0
    pid = db.connection().get_backend_pid()
    seen = db.execute_sql(
        "SELECT set_config('karusaku.clinic_id', %s, false),"
        " set_config('karusaku.clinic_proof', %s, false); SELECT karusaku_clinic_id()",
        (str(clinic_id), proof(db.proof_key, clinic_id, pid))).fetchone()[0]
    db.forget_applied_scope()
    if seen != clinic_id:
        raise StartupRefused("the database's clinic proof key is not this app's: run "
                             "`flask --app karusaku init-db` with the app's KARUSAKU_SECRET_KEY")
