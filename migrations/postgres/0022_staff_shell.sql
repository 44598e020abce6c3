-- Each staff member's own time zone (IANA name; empty: the company's).
ALTER TABLE staff_users ADD COLUMN time_zone TEXT NOT NULL DEFAULT '';

-- The company's time zone replaces the helpdesk's fixed offset from UTC:
-- the offsets people meant map to the zone they most likely are in (the
-- help text gave -480 as US Pacific), any other whole hour to the fixed
-- Etc/GMT zone (whose sign is the POSIX one: Etc/GMT+8 is UTC-8).
INSERT INTO settings (key, value)
SELECT 'time_zone', CASE value
    WHEN '-480' THEN 'America/Los_Angeles'
    WHEN '-420' THEN 'America/Denver'
    WHEN '-360' THEN 'America/Chicago'
    WHEN '-300' THEN 'America/New_York'
    WHEN '-600' THEN 'Pacific/Honolulu'
    WHEN '-540' THEN 'America/Anchorage'
    WHEN '-210' THEN 'America/St_Johns'
    WHEN '0' THEN 'UTC'
    WHEN '210' THEN 'Asia/Tehran'
    WHEN '270' THEN 'Asia/Kabul'
    WHEN '330' THEN 'Asia/Kolkata'
    WHEN '345' THEN 'Asia/Kathmandu'
    WHEN '390' THEN 'Asia/Yangon'
    WHEN '570' THEN 'Australia/Darwin'
    ELSE CASE
        WHEN CAST(value AS BIGINT) % 60 <> 0 THEN 'UTC'
        WHEN CAST(value AS BIGINT) < 0 THEN 'Etc/GMT+' || CAST(-CAST(value AS BIGINT) / 60 AS TEXT)
        ELSE 'Etc/GMT-' || CAST(CAST(value AS BIGINT) / 60 AS TEXT)
    END
END
FROM settings WHERE key = 'support.utc_offset_minutes'
ON CONFLICT (key) DO NOTHING;

DELETE FROM settings WHERE key = 'support.utc_offset_minutes';
