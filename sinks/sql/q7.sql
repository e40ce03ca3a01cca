-- q7 — Tickets issued per hour of day per branch (load profile for staffing).
--
-- Parameters
--   {day:Date}       the last day of the window (local)
--   {days:UInt16}    the window length in days (1 = that day only; 28 = four weeks)
--   {tz:String}      the zone of the hours, 'Asia/Almaty'
--   {branch:String}  one branch_id, or '' for every branch
--
-- Hours are local (0–23). tickets_issued sums the window; per_day divides by `days`. Hours without
-- a ticket have no row.
WITH
    toDateTime({day:Date} - ({days:UInt16} - 1), {tz:String}) AS window_from,
    toDateTime({day:Date} + 1, {tz:String}) AS window_to
SELECT
    branch_id,
    toHour(window_start, {tz:String}) AS hour,
    sum(tickets_issued) AS tickets_issued,
    round(tickets_issued / {days:UInt16}, 2) AS per_day
FROM sitcen.branch_minute FINAL
WHERE window_start >= window_from AND window_start < window_to
  AND ({branch:String} = '' OR branch_id = {branch:String})
GROUP BY branch_id, hour
HAVING tickets_issued > 0
ORDER BY branch_id, hour
