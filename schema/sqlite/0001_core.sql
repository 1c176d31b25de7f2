-- Karusaku schema, version 1: the clinics and their six core tables.
-- Every tenant table carries clinic_id NOT NULL and UNIQUE (clinic_id, id), so that child rows
-- reference (clinic_id, x_id) and the database itself refuses a reference across clinics.

CREATE TABLE clinics (
    id                INTEGER PRIMARY KEY,
    code              TEXT    NOT NULL UNIQUE,
    name              TEXT    NOT NULL,
    address           TEXT    NOT NULL DEFAULT '',
    phone             TEXT    NOT NULL DEFAULT '',
    email             TEXT    NOT NULL DEFAULT '',
    subscription_plan TEXT    NOT NULL DEFAULT 'starter'
                      CHECK (subscription_plan IN ('starter', 'pro', 'enterprise')),
    max_patients      INTEGER CHECK (max_patients IS NULL OR max_patients >= 0),
    status            TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    opens_at          TEXT    NOT NULL DEFAULT '09:00',
    closes_at         TEXT    NOT NULL DEFAULT '20:00',
    closed_weekdays   TEXT    NOT NULL DEFAULT '',
    slot_minutes      INTEGER NOT NULL DEFAULT 15 CHECK (slot_minutes > 0),
    created_at        DATETIME NOT NULL
);

CREATE TABLE users (
    id           INTEGER PRIMARY KEY,
    clinic_id    INTEGER NOT NULL REFERENCES clinics (id),
    username     TEXT    NOT NULL,
    password     TEXT    NOT NULL,
    role         TEXT    NOT NULL CHECK (role IN ('owner', 'therapist', 'receptionist')),
    display_name TEXT    NOT NULL DEFAULT '',
    created_at   DATETIME NOT NULL,
    last_login   DATETIME,
    UNIQUE (clinic_id, username),
    UNIQUE (clinic_id, id)
);

CREATE TABLE patients (
    id             INTEGER PRIMARY KEY,
    clinic_id      INTEGER NOT NULL REFERENCES clinics (id),
    chart_number   INTEGER NOT NULL,
    name           TEXT    NOT NULL,
    name_kana      TEXT    NOT NULL,
    date_of_birth  DATE,
    gender         TEXT    NOT NULL DEFAULT '',
    phone          TEXT    NOT NULL DEFAULT '',
    email          TEXT    NOT NULL DEFAULT '',
    address        TEXT    NOT NULL DEFAULT '',
    is_new_patient INTEGER NOT NULL DEFAULT 1,
    created_at     DATETIME NOT NULL,
    updated_at     DATETIME NOT NULL,
    UNIQUE (clinic_id, id),
    UNIQUE (clinic_id, chart_number)
);

CREATE TABLE therapists (
    id             INTEGER PRIMARY KEY,
    clinic_id      INTEGER NOT NULL REFERENCES clinics (id),
    name           TEXT    NOT NULL,
    license_number TEXT    NOT NULL DEFAULT '',
    specialty      TEXT    NOT NULL DEFAULT '',
    phone          TEXT    NOT NULL DEFAULT '',
    email          TEXT    NOT NULL DEFAULT '',
    status         TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
    user_id        INTEGER,
    created_at     DATETIME NOT NULL,
    updated_at     DATETIME NOT NULL,
    UNIQUE (clinic_id, id),
    FOREIGN KEY (clinic_id, user_id) REFERENCES users (clinic_id, id)
);

CREATE TABLE appointments (
    id               INTEGER PRIMARY KEY,
    clinic_id        INTEGER NOT NULL REFERENCES clinics (id),
    patient_id       INTEGER NOT NULL,
    therapist_id     INTEGER NOT NULL,
    appointment_date DATETIME NOT NULL,
    duration_minutes INTEGER NOT NULL CHECK (duration_minutes > 0),
    status           TEXT    NOT NULL DEFAULT 'booked'
                     CHECK (status IN ('booked', 'arrived', 'completed', 'cancelled', 'no_show')),
    notes            TEXT    NOT NULL DEFAULT '',
    created_by       INTEGER,
    created_at       DATETIME NOT NULL,
    updated_at       DATETIME NOT NULL,
    UNIQUE (clinic_id, id),
    FOREIGN KEY (clinic_id, patient_id) REFERENCES patients (clinic_id, id),
    FOREIGN KEY (clinic_id, therapist_id) REFERENCES therapists (clinic_id, id),
    FOREIGN KEY (clinic_id, created_by) REFERENCES users (clinic_id, id)
);

CREATE TABLE medical_records (
    id             INTEGER PRIMARY KEY,
    clinic_id      INTEGER NOT NULL REFERENCES clinics (id),
    patient_id     INTEGER NOT NULL,
    therapist_id   INTEGER NOT NULL,
    appointment_id INTEGER,
    visit_date     DATE    NOT NULL,
    symptoms       TEXT    NOT NULL DEFAULT '',
    diagnosis      TEXT    NOT NULL DEFAULT '',
    treatment      TEXT    NOT NULL DEFAULT '',
    prescription   TEXT    NOT NULL DEFAULT '',
    notes          TEXT    NOT NULL DEFAULT '',
    body_chart     TEXT    NOT NULL DEFAULT '[]',
    created_by     INTEGER,
    created_at     DATETIME NOT NULL,
    updated_at     DATETIME NOT NULL,
    UNIQUE (clinic_id, id),
    FOREIGN KEY (clinic_id, patient_id) REFERENCES patients (clinic_id, id),
    FOREIGN KEY (clinic_id, therapist_id) REFERENCES therapists (clinic_id, id),
    FOREIGN KEY (clinic_id, appointment_id) REFERENCES appointments (clinic_id, id),
    FOREIGN KEY (clinic_id, created_by) REFERENCES users (clinic_id, id)
);

CREATE INDEX idx_patients_clinic_id ON patients (clinic_id);
CREATE INDEX idx_therapists_clinic_id ON therapists (clinic_id);
CREATE INDEX idx_medical_records_clinic_id ON medical_records (clinic_id);
CREATE INDEX idx_appointments_clinic_id ON appointments (clinic_id);
CREATE INDEX idx_medical_records_clinic_patient ON medical_records (clinic_id, patient_id);
CREATE INDEX idx_appointments_clinic_date ON appointments (clinic_id, appointment_date);
CREATE INDEX idx_appointments_clinic_therapist_date
    ON appointments (clinic_id, therapist_id, appointment_date);
