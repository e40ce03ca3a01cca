-- q5 — Staff: tickets handled, overruns caused, mean rating — CON employees and police separately.
--
-- Parameters
--   {day:Date}       the local day
--   {tz:String}      the zone of that day, 'Asia/Almaty'
--   {branch:String}  one branch_id, or '' for every branch
--   {top:UInt32}     at most this many staff per party (worst overruns first, then busiest)
--
-- A staff member's work is the stage attempts with their staff_id started that day; party is the
-- stage's responsible: 'con' (CON employees: intake) or 'police' (examiners and inspectors: exams,
-- vehicle inspection, production, plates). tickets_handled counts distinct tickets; stage_overruns
-- counts attempts that ran over their limit (duration > limit), overrun_s their total time over;
-- ticket_breaches counts standing ticket_overrun alerts whose cause was their attempt. Ratings
-- (rating_submitted rates a staff_id) come from `ratings`, submitted that day.
WITH
    toDateTime64({day:Date}, 3, {tz:String}) AS day_start,
    toDateTime64({day:Date} + 1, 3, {tz:String}) AS day_end
SELECT
    w.party AS party,
    w.staff_id AS staff_id,
    w.branch_id AS branch_id,
    w.tickets_handled AS tickets_handled,
    w.attempts AS attempts,
    w.stage_overruns AS stage_overruns,
    w.overrun_s AS overrun_s,
    a.ticket_breaches AS ticket_breaches,
    r.ratings AS ratings,
    if(r.ratings = 0, NULL, round(r.rating_sum / r.ratings, 2)) AS mean_rating
FROM
(
    SELECT
        responsible AS party,
        staff_id,
        branch_id,
        uniqExact(cityHash64(ticket_id)) AS tickets_handled,  -- distinct tickets (64-bit hashes: faster than strings)
        count() AS attempts,
        countIf(duration_s > limit_s) AS stage_overruns,
        round(coalesce(sumIf(duration_s - limit_s, duration_s > limit_s), 0), 3) AS overrun_s
    FROM sitcen.ticket_stages FINAL
    WHERE staff_id != '' AND responsible IN ('con', 'police')
      AND started_at >= day_start AND started_at < day_end
      AND ({branch:String} = '' OR branch_id = {branch:String})
    GROUP BY party, staff_id, branch_id
) AS w
LEFT JOIN
(
    SELECT branch_id, staff_id, count() AS ticket_breaches
    FROM sitcen.alerts FINAL
    WHERE kind = 'ticket_overrun' AND status != 'withdrawn' AND staff_id != ''
      AND detected_at >= day_start AND detected_at < day_end
      AND ({branch:String} = '' OR branch_id = {branch:String})
    GROUP BY branch_id, staff_id
) AS a ON a.branch_id = w.branch_id AND a.staff_id = w.staff_id
LEFT JOIN
(
    SELECT branch_id, staff_id, count() AS ratings, sum(rating) AS rating_sum
    FROM sitcen.ratings FINAL
    WHERE ts >= day_start AND ts < day_end
      AND ({branch:String} = '' OR branch_id = {branch:String})
    GROUP BY branch_id, staff_id
) AS r ON r.branch_id = w.branch_id AND r.staff_id = w.staff_id
ORDER BY party, stage_overruns DESC, ticket_breaches DESC, tickets_handled DESC, staff_id
LIMIT {top:UInt32} BY party
