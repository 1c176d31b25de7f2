-- Version 3 (PostgreSQL): patient search keys. kana_key folds hiragana, katakana and half-width
-- kana into one form; phone_digits keeps only the digits. The app keeps both (Patient.save);
-- the rows that existed before this version get them from 0003_front_desk.py, which runs
-- right after this file in the same transaction, with the app's own folding functions
-- (SQLite calls the same functions from SQL instead).

ALTER TABLE patients ADD COLUMN kana_key TEXT NOT NULL DEFAULT '';
ALTER TABLE patients ADD COLUMN phone_digits TEXT NOT NULL DEFAULT '';
CREATE INDEX idx_patients_clinic_kana ON patients (clinic_id, kana_key);
