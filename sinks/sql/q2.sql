-- q2 — Today, per branch: issued, completed, licenses issued, registrations, plates; mean and p90
-- wait; mean and p90 total time; share within the standard.
--
-- Parameters
--   {day:Date}       the local day ("today"; `sitcen report` defaults to the latest day with data)
--   {tz:String}      the zone of that day, 'Asia/Almaty' for Kazakhstan (UTC+5, every branch)
--   {branch:String}  one branch_id, or '' for every branch
--
-- Ticket figures are the cohort of tickets issued that day (latest state): issued, completed,
-- cancelled, abandoned, still open; wait = the queue (ticket taken → called to a window) of those
-- whose queue ended; total = ticket → document of the completed ones; within standard = completed
-- and not breached, as a share of completed. Documents (licenses = driver_license +
-- license_exchange, registrations, plates) count by the instant they were issued, from branch_minute.
-- p90 is exact (linear interpolation between order statistics, like numpy's default percentile).
WITH
    toDateTime64({day:Date}, 3, {tz:String}) AS day_start,
    toDateTime64({day:Date} + 1, 3, {tz:String}) AS day_end
SELECT
    if(t.branch_id != '', t.branch_id, m.branch_id) AS branch_id,
    if(b.name = '', if(t.branch_id != '', t.branch_id, m.branch_id), b.name) AS branch_name,
    if(b.city = '', '(unknown)', b.city) AS city,
    t.issued AS issued,
    t.completed AS completed,
    t.cancelled AS cancelled,
    t.abandoned AS abandoned,
    t.open AS open,
    m.licenses_issued AS licenses_issued,
    m.registrations AS registrations,
    m.plates_issued AS plates_issued,
    t.wait_mean_s AS wait_mean_s,
    t.wait_p90_s AS wait_p90_s,
    t.total_mean_s AS total_mean_s,
    t.total_p90_s AS total_p90_s,
    t.within_standard AS within_standard,
    t.within_standard_share AS within_standard_share
FROM
(
    SELECT
        branch_id,
        count() AS issued,
        countIf(status = 'completed') AS completed,
        countIf(status = 'cancelled') AS cancelled,
        countIf(status = 'abandoned') AS abandoned,
        countIf(status = 'open') AS open,
        round(avgIf(queue_s, queue_s IS NOT NULL), 3) AS wait_mean_s,
        round(quantileExactInclusiveIf(0.9)(queue_s, queue_s IS NOT NULL), 3) AS wait_p90_s,
        round(avgIf(total_s, status = 'completed'), 3) AS total_mean_s,
        round(quantileExactInclusiveIf(0.9)(total_s, status = 'completed'), 3) AS total_p90_s,
        countIf(status = 'completed' AND breached = 0) AS within_standard,
        round(within_standard / nullIf(completed, 0), 4) AS within_standard_share
    FROM sitcen.tickets FINAL
    WHERE issued_at >= day_start AND issued_at < day_end
      AND ({branch:String} = '' OR branch_id = {branch:String})
    GROUP BY branch_id
) AS t
FULL OUTER JOIN
(
    SELECT
        branch_id,
        sum(licenses_issued) AS licenses_issued,
        sum(registrations) AS registrations,
        sum(plates_issued) AS plates_issued
    FROM sitcen.branch_minute FINAL
    WHERE window_start >= day_start AND window_start < day_end
      AND ({branch:String} = '' OR branch_id = {branch:String})
    GROUP BY branch_id
) AS m ON m.branch_id = t.branch_id
LEFT JOIN (SELECT branch_id, name, city FROM sitcen.branches FINAL) AS b
    ON b.branch_id = if(t.branch_id != '', t.branch_id, m.branch_id)
ORDER BY issued DESC, branch_id
