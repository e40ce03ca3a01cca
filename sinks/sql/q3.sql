-- q3 — Breaches today by responsible party and stage, per branch and nationally.
--
-- Parameters
--   {day:Date}       the local day
--   {tz:String}      the zone of that day, 'Asia/Almaty'
--   {branch:String}  one branch_id, or '' for every branch
--
-- A breach is a standing (firing or resolved, not withdrawn) stage_overrun or ticket_overrun alert
-- detected that day — the same facts as branch_minute.breaches_con / breaches_police. `stage` is
-- the alert's cause_stage: the stage itself for a stage overrun; for a ticket overrun the segment
-- that ran furthest over its limit (a stage or a wait, e.g. wait_production), frozen at detection.
-- Rows with level = 'national' (branch_id '') sum every branch selected.
WITH
    toDateTime64({day:Date}, 3, {tz:String}) AS day_start,
    toDateTime64({day:Date} + 1, 3, {tz:String}) AS day_end
SELECT
    if(grouping(bid) = 1, 'national', 'branch') AS level,
    if(grouping(bid) = 1, '', bid) AS branch_id,
    responsible,
    cause_stage AS stage,
    countIf(kind = 'stage_overrun') AS stage_overruns,
    countIf(kind = 'ticket_overrun') AS ticket_overruns,
    count() AS breaches
FROM
(
    SELECT branch_id AS bid, kind, responsible, cause_stage
    FROM sitcen.alerts FINAL
    WHERE kind IN ('stage_overrun', 'ticket_overrun')
      AND status != 'withdrawn'
      AND detected_at >= day_start AND detected_at < day_end
      AND ({branch:String} = '' OR branch_id = {branch:String})
)
GROUP BY GROUPING SETS ((bid, responsible, cause_stage), (responsible, cause_stage))
ORDER BY level = 'national' DESC, branch_id, breaches DESC, responsible, stage
