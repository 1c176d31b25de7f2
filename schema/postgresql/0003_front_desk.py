"""Version 3 (PostgreSQL), after 0003_front_desk.sql in the same transaction: fill the search
keys of the patients that existed before it, folded by the app's own functions."""
from karusaku.japanese import normalize_kana, normalize_phone


def upgrade(db):
    rows = db.execute_sql("SELECT id, name_kana, phone FROM patients ORDER BY id").fetchall()
    for patient_id, name_kana, phone in rows:
        db.execute_sql("UPDATE patients SET kana_key = %s, phone_digits = %s WHERE id = %s",
                       (normalize_kana(name_kana or ""), normalize_phone(phone or ""), patient_id))
