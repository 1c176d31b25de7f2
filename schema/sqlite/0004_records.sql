-- Version 4: the visit record's authenticity (真正性) and the treatment room's helpers.
-- Every save of a record appends a full revision; deleting is soft, with a reason; `version`
-- lets a second tab's save notice that the record changed under it. Drafts keep what a
-- therapist is typing; record_templates are the clinic's 定型文.

ALTER TABLE medical_records ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE medical_records ADD COLUMN updated_by INTEGER;
ALTER TABLE medical_records ADD COLUMN deleted_at DATETIME;
ALTER TABLE medical_records ADD COLUMN deleted_by INTEGER;
ALTER TABLE medical_records ADD COLUMN deleted_reason TEXT NOT NULL DEFAULT '';
CREATE INDEX idx_medical_records_clinic_patient_visit
    ON medical_records (clinic_id, patient_id, visit_date);
CREATE INDEX idx_medical_records_clinic_appointment ON medical_records (clinic_id, appointment_id);
CREATE INDEX idx_medical_records_clinic_created ON medical_records (clinic_id, created_at);

CREATE TABLE record_revisions (
    id           INTEGER PRIMARY KEY,
    clinic_id    INTEGER NOT NULL REFERENCES clinics (id),
    record_id    INTEGER NOT NULL,
    revision     INTEGER NOT NULL,
    action       TEXT    NOT NULL CHECK (action IN ('created', 'edited', 'deleted')),
    therapist_id INTEGER NOT NULL,
    visit_date   DATE    NOT NULL,
    symptoms     TEXT    NOT NULL DEFAULT '',
    diagnosis    TEXT    NOT NULL DEFAULT '',
    treatment    TEXT    NOT NULL DEFAULT '',
    prescription TEXT    NOT NULL DEFAULT '',
    notes        TEXT    NOT NULL DEFAULT '',
    body_chart   TEXT    NOT NULL DEFAULT '[]',
    reason       TEXT    NOT NULL DEFAULT '',
    edited_by    INTEGER,
    edited_at    DATETIME NOT NULL,
    UNIQUE (clinic_id, id),
    UNIQUE (record_id, revision),
    FOREIGN KEY (clinic_id, record_id) REFERENCES medical_records (clinic_id, id),
    FOREIGN KEY (clinic_id, therapist_id) REFERENCES therapists (clinic_id, id),
    FOREIGN KEY (clinic_id, edited_by) REFERENCES users (clinic_id, id)
);
CREATE INDEX idx_record_revisions_clinic_id ON record_revisions (clinic_id);

-- A revision is history: the database refuses to change one (deleting them is left to the
-- restore of a whole clinic).
CREATE TRIGGER record_revisions_no_update BEFORE UPDATE ON record_revisions
BEGIN
    SELECT RAISE(ABORT, 'record_revisions is append-only');
END;
CREATE TRIGGER record_revisions_no_replace BEFORE INSERT ON record_revisions
WHEN EXISTS (SELECT 1 FROM record_revisions WHERE id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'record_revisions is append-only');
END;

-- Records written before version 4 get their first revision from what they hold now.
INSERT INTO record_revisions (clinic_id, record_id, revision, action, therapist_id, visit_date,
                              symptoms, diagnosis, treatment, prescription, notes, body_chart,
                              edited_by, edited_at)
SELECT clinic_id, id, 1, 'created', therapist_id, visit_date, symptoms, diagnosis, treatment,
       prescription, notes, body_chart, created_by, created_at
FROM medical_records;

CREATE TABLE record_drafts (
    id           INTEGER PRIMARY KEY,
    clinic_id    INTEGER NOT NULL REFERENCES clinics (id),
    user_id      INTEGER NOT NULL,
    patient_id   INTEGER NOT NULL,
    record_id    INTEGER,  -- NULL: a new record
    base_version INTEGER,  -- the record's version when the edit began
    content      TEXT    NOT NULL,
    updated_at   DATETIME NOT NULL,
    UNIQUE (clinic_id, id),
    FOREIGN KEY (clinic_id, user_id) REFERENCES users (clinic_id, id),
    FOREIGN KEY (clinic_id, patient_id) REFERENCES patients (clinic_id, id),
    FOREIGN KEY (clinic_id, record_id) REFERENCES medical_records (clinic_id, id)
);
CREATE UNIQUE INDEX idx_record_drafts_form
    ON record_drafts (clinic_id, user_id, patient_id, COALESCE(record_id, 0));

CREATE TABLE record_templates (
    id         INTEGER PRIMARY KEY,
    clinic_id  INTEGER NOT NULL REFERENCES clinics (id),
    field      TEXT    NOT NULL
               CHECK (field IN ('symptoms', 'diagnosis', 'treatment', 'prescription', 'notes')),
    title      TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    sort_order INTEGER NOT NULL DEFAULT 0,
    created_at DATETIME NOT NULL,
    UNIQUE (clinic_id, id)
);
CREATE INDEX idx_record_templates_clinic_field ON record_templates (clinic_id, field, sort_order);
