-- q6 — Licenses issued per day per city, last 30 days.
--
-- Parameters
--   {day:Date}       the last day of the window (local)
--   {days:UInt16}    the window length in days, 30
--   {tz:String}      the zone of the days, 'Asia/Almaty'
--   {branch:String}  one branch_id, or '' for every branch
--
-- Licenses are documents of driver_license and license_exchange (branch_minute.licenses_issued),
-- counted on the local day they were issued; branches not in the catalog count under '(unknown)'.
-- Days and cities without a license have no row.
WITH
    toDateTime({day:Date} - ({days:UInt16} - 1), {tz:String}) AS window_from,
    toDateTime({day:Date} + 1, {tz:String}) AS window_to
SELECT
    toDate(m.window_start, {tz:String}) AS day,
    if(b.city = '', '(unknown)', b.city) AS city,
    sum(m.licenses_issued) AS licenses_issued,
    uniqExactIf(m.branch_id, m.licenses_issued > 0) AS branches
FROM sitcen.branch_minute AS m FINAL
LEFT JOIN (SELECT branch_id, city FROM sitcen.branches FINAL) AS b ON b.branch_id = m.branch_id
WHERE m.window_start >= window_from AND m.window_start < window_to
  AND ({branch:String} = '' OR m.branch_id = {branch:String})
GROUP BY day, city
HAVING licenses_issued > 0
ORDER BY day, licenses_issued DESC, city
