-- q4 — Breached tickets with their stage timeline (queue, intake, exam hall, practical exam,
-- production, …).
--
-- Parameters
--   {day:Date}       the local day the tickets were issued
--   {tz:String}      the zone of that day and of the clock times in `timeline`, 'Asia/Almaty'
--   {branch:String}  one branch_id, or '' for every branch
--   {limit:UInt32}   at most this many tickets, longest first
--
-- A ticket is breached when its total time exceeds its service standard (its ticket_overrun fired);
-- cause_stage / responsible say which segment ran furthest over its limit and whose it was.
-- Per-segment seconds come from the ticket row (attempts summed; NULL = no such segment); the
-- `timeline` lists every stage attempt in start order, then how and when the ticket ended (local
-- clock times; the gaps between attempts are the waits):
--   stage[#attempt] HH:MM–HH:MM <minutes>m [+<minutes over the limit>m] [staff] → … → <status> HH:MM
WITH
    toDateTime64({day:Date}, 3, {tz:String}) AS day_start,
    toDateTime64({day:Date} + 1, 3, {tz:String}) AS day_end
SELECT
    t.ticket_id AS ticket_id,
    t.branch_id AS branch_id,
    t.service AS service,
    t.status AS status,
    t.issued_at AS issued_at,
    t.finished_at AS finished_at,
    t.total_s AS total_s,
    t.cause_stage AS cause_stage,
    t.responsible AS responsible,
    t.queue_s AS queue_s,
    t.intake_s AS intake_s,
    t.wait_theory_exam_s AS wait_theory_exam_s,
    t.theory_exam_s AS theory_exam_s,
    t.wait_practical_exam_s AS wait_practical_exam_s,
    t.practical_exam_s AS practical_exam_s,
    t.wait_vehicle_inspection_s AS wait_vehicle_inspection_s,
    t.vehicle_inspection_s AS vehicle_inspection_s,
    t.wait_production_s AS wait_production_s,
    t.production_s AS production_s,
    t.wait_plates_s AS wait_plates_s,
    t.plates_s AS plates_s,
    t.wait_document_s AS wait_document_s,
    s.attempts AS stage_attempts,
    concat(
        if(s.stages_line = '', '', concat(s.stages_line, ' → ')),
        t.status,
        if(t.finished_at IS NULL, '', concat(' ', formatDateTime(assumeNotNull(t.finished_at), '%H:%i', {tz:String})))
    ) AS timeline
FROM
(
    SELECT *
    FROM sitcen.tickets FINAL
    WHERE breached = 1
      AND issued_at >= day_start AND issued_at < day_end
      AND ({branch:String} = '' OR branch_id = {branch:String})
    ORDER BY total_s DESC, ticket_id
    LIMIT {limit:UInt32}
) AS t
LEFT JOIN
(
    SELECT
        ticket_id,
        count() AS attempts,
        arrayStringConcat(
            arrayMap(x -> x.2, arraySort(x -> x.1, groupArray((started_at, stage_line)))),
            ' → ') AS stages_line
    FROM
    (
        SELECT
            ticket_id,
            started_at,
            concat(
                stage, if(attempt > 1, concat('#', toString(attempt)), ''), ' ',
                formatDateTime(started_at, '%H:%i', {tz:String}), '–',
                if(finished_at IS NULL, '…', formatDateTime(assumeNotNull(finished_at), '%H:%i', {tz:String})),
                if(duration_s IS NULL, '', concat(' ', toString(round(assumeNotNull(duration_s) / 60, 1)), 'm')),
                if(duration_s > limit_s, concat(' +', toString(round((assumeNotNull(duration_s) - limit_s) / 60, 1)), 'm'), ''),
                if(staff_id = '', '', concat(' ', staff_id))
            ) AS stage_line
        FROM sitcen.ticket_stages FINAL
        WHERE ticket_id IN (
            SELECT ticket_id FROM sitcen.tickets FINAL
            WHERE breached = 1 AND issued_at >= day_start AND issued_at < day_end
              AND ({branch:String} = '' OR branch_id = {branch:String})
            ORDER BY total_s DESC, ticket_id
            LIMIT {limit:UInt32}
        )
    )
    GROUP BY ticket_id
) AS s ON s.ticket_id = t.ticket_id
ORDER BY total_s DESC, ticket_id
LIMIT {limit:UInt32}
