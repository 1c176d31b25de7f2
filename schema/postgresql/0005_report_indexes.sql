-- Version 5 (PostgreSQL): indexes for the owner's reports (visits per month and per therapist,
-- first visits, no-show rate), which group years of appointments and records by status and date.

CREATE INDEX idx_appointments_clinic_status_date
    ON appointments (clinic_id, status, appointment_date, patient_id, therapist_id);
CREATE INDEX idx_medical_records_clinic_visit
    ON medical_records (clinic_id, visit_date, deleted_at);
