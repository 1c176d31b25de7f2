-- Version 5: indexes for the queries that grow with years of history: a patient's visits and
-- upcoming appointments, and the owner's reports (visits per month and per therapist, first
-- visits, no-show rate), which group appointments and records by status and date.

CREATE INDEX idx_appointments_clinic_patient_date
    ON appointments (clinic_id, patient_id, appointment_date);
CREATE INDEX idx_appointments_clinic_status_date
    ON appointments (clinic_id, status, appointment_date, patient_id, therapist_id);
CREATE INDEX idx_medical_records_clinic_visit
    ON medical_records (clinic_id, visit_date, deleted_at);
