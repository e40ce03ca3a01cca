-- sitcen ClickHouse schema (DESIGN §6). Runs unchanged on chDB and on ClickHouse >= 24.8.
-- "Latest state wins" tables are ReplacingMergeTree(version[, is_deleted]) where version grows with
-- the ticket's own applied-event sequence; read them with FINAL (or argMax) before merges happen.
-- Statements are separated by lines holding only ';'.

CREATE DATABASE IF NOT EXISTS sitcen
;
CREATE TABLE IF NOT EXISTS sitcen.branches (
    branch_id String,
    name String,
    city String,
    region String,
    kind LowCardinality(String),
    status LowCardinality(String),
    planned_opening Nullable(Date),
    timezone String,
    hours_mon String, hours_tue String, hours_wed String, hours_thu String,
    hours_fri String, hours_sat String, hours_sun String,
    windows UInt16,
    exam_seats UInt16,
    examiners UInt16,
    inspectors UInt16
) ENGINE = ReplacingMergeTree ORDER BY branch_id
;
CREATE TABLE IF NOT EXISTS sitcen.tickets (
    ticket_id String,
    branch_id String,
    known_branch UInt8,
    service LowCardinality(String),
    issued_at Nullable(DateTime64(3, 'UTC')),
    finished_at Nullable(DateTime64(3, 'UTC')),
    status LowCardinality(String),
    total_s Nullable(Float64),
    queue_s Nullable(Float64),
    intake_s Nullable(Float64),
    theory_exam_s Nullable(Float64),
    practical_exam_s Nullable(Float64),
    vehicle_inspection_s Nullable(Float64),
    production_s Nullable(Float64),
    plates_s Nullable(Float64),
    wait_intake_s Nullable(Float64),
    wait_theory_exam_s Nullable(Float64),
    wait_practical_exam_s Nullable(Float64),
    wait_vehicle_inspection_s Nullable(Float64),
    wait_production_s Nullable(Float64),
    wait_plates_s Nullable(Float64),
    wait_document_s Nullable(Float64),
    breached UInt8,
    cause_stage LowCardinality(String),
    responsible LowCardinality(String),
    rating Nullable(UInt8),
    version UInt64
) ENGINE = ReplacingMergeTree(version) ORDER BY ticket_id
;
CREATE TABLE IF NOT EXISTS sitcen.ticket_stages (
    ticket_id String,
    branch_id String,
    stage LowCardinality(String),
    attempt UInt16,
    result LowCardinality(String),
    responsible LowCardinality(String),
    staff_id String,
    started_at DateTime64(3, 'UTC'),
    finished_at Nullable(DateTime64(3, 'UTC')),
    duration_s Nullable(Float64),
    limit_s Float64,
    overrun_s Nullable(Float64),
    version UInt64,
    is_deleted UInt8
) ENGINE = ReplacingMergeTree(version, is_deleted) ORDER BY (ticket_id, stage, attempt)
;
CREATE TABLE IF NOT EXISTS sitcen.alerts (
    alert_id String,
    kind LowCardinality(String),
    status LowCardinality(String),
    severity LowCardinality(String),
    attempt UInt16,
    ticket_id String,
    branch_id String,
    service LowCardinality(String),
    stage LowCardinality(String),
    cause_stage LowCardinality(String),
    responsible LowCardinality(String),
    staff_id String,
    limit_s Float64,
    started_at DateTime64(3, 'UTC'),
    detected_at DateTime64(3, 'UTC'),
    resolved_at Nullable(DateTime64(3, 'UTC')),
    overrun_s Nullable(Float64),
    version UInt64
) ENGINE = ReplacingMergeTree(version) ORDER BY alert_id
;
CREATE TABLE IF NOT EXISTS sitcen.branch_minute (
    branch_id String,
    window_start DateTime('UTC'),
    tickets_issued UInt32,
    tickets_issued_driver_license UInt32,
    tickets_issued_license_exchange UInt32,
    tickets_issued_vehicle_registration UInt32,
    tickets_issued_vehicle_reregistration UInt32,
    tickets_issued_plates_issue UInt32,
    documents_issued UInt32,
    documents_issued_driver_license UInt32,
    documents_issued_license_exchange UInt32,
    documents_issued_vehicle_registration UInt32,
    documents_issued_vehicle_reregistration UInt32,
    documents_issued_plates_issue UInt32,
    tickets_cancelled UInt32,
    tickets_cancelled_driver_license UInt32,
    tickets_cancelled_license_exchange UInt32,
    tickets_cancelled_vehicle_registration UInt32,
    tickets_cancelled_vehicle_reregistration UInt32,
    tickets_cancelled_plates_issue UInt32,
    licenses_issued UInt32,
    registrations UInt32,
    plates_issued UInt32,
    queue_wait_sum_s Float64,
    queue_wait_count UInt32,
    queue_wait_max_s Float64,
    breaches_con UInt32,
    breaches_police UInt32,
    ratings_count UInt32,
    ratings_sum UInt32,
    version UInt64,
    is_deleted UInt8
) ENGINE = ReplacingMergeTree(version, is_deleted) ORDER BY (branch_id, window_start)
;
CREATE TABLE IF NOT EXISTS sitcen.ratings (
    event_id String,
    ticket_id String,
    branch_id String,
    staff_id String,
    rating UInt8,
    ts DateTime64(3, 'UTC'),
    version UInt64,
    is_deleted UInt8
) ENGINE = ReplacingMergeTree(version, is_deleted) ORDER BY event_id
;
CREATE TABLE IF NOT EXISTS sitcen.dead_letters (
    source String,
    partition Int32,
    offset Int64,
    code LowCardinality(String),
    detail String,
    event_id String,
    raw String
) ENGINE = ReplacingMergeTree ORDER BY (source, partition, offset, code)
;
CREATE TABLE IF NOT EXISTS sitcen.late_events (
    source String,
    partition Int32,
    offset Int64,
    event_id String,
    type LowCardinality(String),
    ticket_id String,
    branch_id String,
    ts DateTime64(3, 'UTC'),
    max_seen_ts DateTime64(3, 'UTC'),
    late_by_s Float64,
    raw String
) ENGINE = ReplacingMergeTree ORDER BY (source, partition, offset)
;
CREATE TABLE IF NOT EXISTS sitcen.job_stats (
    run_id String,
    subtask UInt16,
    seq UInt64,
    watermark Nullable(DateTime64(3, 'UTC')),
    open_tickets Int64,
    pending_timers Int64,
    events_applied UInt64,
    duplicates UInt64,
    ignored UInt64,
    too_late UInt64
) ENGINE = ReplacingMergeTree ORDER BY (run_id, subtask, seq)
;
-- Roll-ups are plain views over `branch_minute FINAL`, not materialized views: a materialized view
-- sees every inserted block, and branch_minute is a ReplacingMergeTree whose rows are upserted (a
-- late event rewrites its minute with a higher version). An MV would add both the old and the new
-- version of a minute and double count; the view reads the winning version of each minute instead.
-- A national day is ~10^5 branch-minutes, so the view answers in milliseconds.
-- The day of `branch_day` and the hour of `branch_hour` are Kazakhstan local time (UTC+5 since
-- 2024-03-01, every branch zone); queries that need another zone take `{tz:String}`.
CREATE OR REPLACE VIEW sitcen.branch_hour AS
SELECT
    branch_id,
    toStartOfHour(window_start) AS hour_start,
    toDate(window_start, 'Asia/Almaty') AS day,
    toHour(window_start, 'Asia/Almaty') AS hour,
    sum(tickets_issued) AS tickets_issued,
    sum(tickets_issued_driver_license) AS tickets_issued_driver_license,
    sum(tickets_issued_license_exchange) AS tickets_issued_license_exchange,
    sum(tickets_issued_vehicle_registration) AS tickets_issued_vehicle_registration,
    sum(tickets_issued_vehicle_reregistration) AS tickets_issued_vehicle_reregistration,
    sum(tickets_issued_plates_issue) AS tickets_issued_plates_issue,
    sum(documents_issued) AS documents_issued,
    sum(tickets_cancelled) AS tickets_cancelled,
    sum(licenses_issued) AS licenses_issued,
    sum(registrations) AS registrations,
    sum(plates_issued) AS plates_issued,
    sum(queue_wait_sum_s) AS queue_wait_sum_s,
    sum(queue_wait_count) AS queue_wait_count,
    max(queue_wait_max_s) AS queue_wait_max_s,
    sum(breaches_con) AS breaches_con,
    sum(breaches_police) AS breaches_police,
    sum(ratings_count) AS ratings_count,
    sum(ratings_sum) AS ratings_sum
FROM sitcen.branch_minute FINAL
GROUP BY branch_id, hour_start, day, hour
;
CREATE OR REPLACE VIEW sitcen.branch_day AS
SELECT
    branch_id,
    toDate(window_start, 'Asia/Almaty') AS day,
    sum(tickets_issued) AS tickets_issued,
    sum(tickets_issued_driver_license) AS tickets_issued_driver_license,
    sum(tickets_issued_license_exchange) AS tickets_issued_license_exchange,
    sum(tickets_issued_vehicle_registration) AS tickets_issued_vehicle_registration,
    sum(tickets_issued_vehicle_reregistration) AS tickets_issued_vehicle_reregistration,
    sum(tickets_issued_plates_issue) AS tickets_issued_plates_issue,
    sum(documents_issued) AS documents_issued,
    sum(tickets_cancelled) AS tickets_cancelled,
    sum(licenses_issued) AS licenses_issued,
    sum(registrations) AS registrations,
    sum(plates_issued) AS plates_issued,
    sum(queue_wait_sum_s) AS queue_wait_sum_s,
    sum(queue_wait_count) AS queue_wait_count,
    max(queue_wait_max_s) AS queue_wait_max_s,
    sum(breaches_con) AS breaches_con,
    sum(breaches_police) AS breaches_police,
    sum(ratings_count) AS ratings_count,
    sum(ratings_sum) AS ratings_sum
FROM sitcen.branch_minute FINAL
GROUP BY branch_id, day
;
-- Tickets not closed yet (latest state).
CREATE OR REPLACE VIEW sitcen.tickets_open AS
SELECT *
FROM sitcen.tickets FINAL
WHERE status = 'open'
;
-- Alerts that stand (firing or resolved); withdrawn ones were proved wrong by a late event.
CREATE OR REPLACE VIEW sitcen.alerts_standing AS
SELECT *
FROM sitcen.alerts FINAL
WHERE status != 'withdrawn'
;
