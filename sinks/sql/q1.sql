-- q1 — Now, per branch: tickets waiting, oldest open ticket, open tickets past the standard.
--
-- Parameters
--   {now:DateTime64(3, 'UTC')}  the instant to look at: now64() on a live dashboard; for a replayed
--                               day the latest instant in the store (what `sitcen report` passes)
--   {branch:String}             one branch_id, or '' for every branch
--
-- As of `now`: a ticket is open when issued at or before `now` and not closed by then; it is
-- waiting while its queue lasts (no stage started by `now`); it is past the standard once its
-- ticket_overrun alert (standing, not withdrawn) was detected at or before `now`.
-- One row per branch with open tickets, worst first.
SELECT
    t.branch_id AS branch_id,
    if(b.name = '', t.branch_id, b.name) AS branch_name,
    if(b.city = '', '(unknown)', b.city) AS city,
    count() AS open_tickets,
    countIf(t.queue_s IS NULL OR t.issued_at + toIntervalMillisecond(toInt64(t.queue_s * 1000)) > {now:DateTime64(3, 'UTC')}) AS waiting,
    sum(o.past) AS past_standard,
    argMin(t.ticket_id, (t.issued_at, t.ticket_id)) AS oldest_ticket_id,
    min(t.issued_at) AS oldest_issued_at,
    round(dateDiff('millisecond', min(t.issued_at), {now:DateTime64(3, 'UTC')}) / 1000, 3) AS oldest_age_s
FROM
(
    SELECT ticket_id, branch_id, issued_at, queue_s
    FROM sitcen.tickets FINAL
    WHERE issued_at <= {now:DateTime64(3, 'UTC')}
      AND (finished_at IS NULL OR finished_at > {now:DateTime64(3, 'UTC')})
      AND ({branch:String} = '' OR branch_id = {branch:String})
) AS t
LEFT JOIN
(
    SELECT DISTINCT ticket_id, toUInt8(1) AS past
    FROM sitcen.alerts FINAL
    WHERE kind = 'ticket_overrun' AND status != 'withdrawn' AND detected_at <= {now:DateTime64(3, 'UTC')}
      AND ({branch:String} = '' OR branch_id = {branch:String})
) AS o ON o.ticket_id = t.ticket_id
LEFT JOIN (SELECT branch_id, name, city FROM sitcen.branches FINAL) AS b ON b.branch_id = t.branch_id
GROUP BY t.branch_id, b.name, b.city
ORDER BY past_standard DESC, open_tickets DESC, oldest_issued_at, branch_id
