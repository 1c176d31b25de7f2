-- Version 3: patient search keys. kana_key folds hiragana, katakana and half-width kana into one
-- form; phone_digits keeps only the digits. karusaku_kana_key() and karusaku_digits() are the
-- app's own functions, registered on every SQLite connection (karusaku/db.py).

ALTER TABLE patients ADD COLUMN kana_key TEXT NOT NULL DEFAULT '';
ALTER TABLE patients ADD COLUMN phone_digits TEXT NOT NULL DEFAULT '';
UPDATE patients SET kana_key = karusaku_kana_key(name_kana), phone_digits = karusaku_digits(phone);
CREATE INDEX idx_patients_clinic_kana ON patients (clinic_id, kana_key);
