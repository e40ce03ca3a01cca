-- q8 — Rating distribution per branch and per inspector.
--
-- Parameters
--   {day:Date}       the last day of the window (local)
--   {days:UInt16}    the window length in days (1 = that day only)
--   {tz:String}      the zone of the days, 'Asia/Almaty'
--   {branch:String}  one branch_id, or '' for every branch
--
-- Ratings are rating_submitted events (1–5, each rates a staff_id) submitted in the window. Rows:
-- level 'national' (all selected branches), 'branch' (per branch), 'staff' (per branch and staff
-- member, with their party — 'police' for inspectors and examiners, 'con' for CON employees, ''
-- when they worked no stage in the window). r1..r5 count each score.
WITH
    toDateTime64({day:Date} - ({days:UInt16} - 1), 3, {tz:String}) AS window_from,
    toDateTime64({day:Date} + 1, 3, {tz:String}) AS window_to
SELECT
    multiIf(grouping(bid) = 1, 'national', grouping(sid) = 1, 'branch', 'staff') AS level,
    if(grouping(bid) = 1, '', bid) AS branch_id,
    if(grouping(sid) = 1, '', sid) AS staff_id,
    if(grouping(sparty) = 1, '', sparty) AS party,
    count() AS ratings,
    round(avg(rating), 2) AS mean_rating,
    countIf(rating = 1) AS r1,
    countIf(rating = 2) AS r2,
    countIf(rating = 3) AS r3,
    countIf(rating = 4) AS r4,
    countIf(rating = 5) AS r5
FROM
(
    SELECT r.branch_id AS bid, r.staff_id AS sid, p.party AS sparty, r.rating AS rating
    FROM
    (
        SELECT branch_id, staff_id, rating
        FROM sitcen.ratings FINAL
        WHERE ts >= window_from AND ts < window_to
          AND ({branch:String} = '' OR branch_id = {branch:String})
    ) AS r
    LEFT JOIN
    (
        SELECT branch_id, staff_id, any(responsible) AS party
        FROM sitcen.ticket_stages FINAL
        WHERE staff_id != '' AND started_at >= window_from AND started_at < window_to
          AND ({branch:String} = '' OR branch_id = {branch:String})
        GROUP BY branch_id, staff_id
    ) AS p ON p.branch_id = r.branch_id AND p.staff_id = r.staff_id
)
GROUP BY GROUPING SETS ((), (bid), (bid, sid, sparty))
HAVING ratings > 0
ORDER BY level = 'national' DESC, branch_id, level = 'branch' DESC, ratings DESC, staff_id
