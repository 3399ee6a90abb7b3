-- The writer's fast paths produce exactly what the types' output functions
-- produce: numeric (formatted from its on-disk digits), float4/float8,
-- timestamptz/timestamp (no fmgr call) and escaped text, on many values and
-- under several DateStyle, TimeZone and extra_float_digits settings.  Each
-- value is cut out of the raw JSON line (not parsed) and compared with
-- value::text, decoded and compared in the same session (same settings).
CREATE TABLE fastpath (
    id   int PRIMARY KEY,
    n    numeric, n2 numeric(12,2), f4 float4, f8 float8,
    ts   timestamptz, t timestamp, s text
);
SELECT 'init' FROM pg_create_logical_replication_slot('fastpath', 'pg_flowview');

-- numerics of every weight and display scale from 1e-40 to 1e40 (short and
-- long on-disk headers), signs, trailing zeros, zeros with a scale; floats
-- and timestamps spread over their ranges
INSERT INTO fastpath
SELECT g,
       round(((g * 7919) % 200003 - 100000)::numeric * (10::numeric ^ (g % 81 - 40)), g % 45),
       ((g * 104729) % 2000000000 - 1000000000) / 100.0,
       ((g * 7919) % 200003 - 100000)::float4 * (10::float4 ^ (g % 61 - 30)),
       ((g * 7919) % 200003 - 100000)::float8 / 7 * (10::float8 ^ (g % 601 - 300)),
       timestamptz '1900-01-01 00:00:00+00' + g * interval '37 days 3 hours 17 minutes 0.123457 seconds',
       timestamp '0100-01-01 00:00:00' + g * interval '173 days 0.5 seconds',
       CASE WHEN g % 3 = 0 THEN 'plain ' || g
            WHEN g % 3 = 1 THEN repeat(E'ab"c\\', g % 7) || chr(1 + g % 31) || 'é'
            ELSE repeat('x', g) || E'\n' END
  FROM generate_series(1, 3000) g;
-- edge values: zeros, powers of 10000, many digits, non-finite values, long
-- strings with escapes at both ends
INSERT INTO fastpath (id, n, f4, f8, ts, t, s) VALUES
 (5001, 0, 0, 0, 'infinity', 'infinity', ''),
 (5002, 0.000, '-0', '-0', '-infinity', '-infinity', E'\x01'),
 (5003, -0.0001, 1e-45, 5e-324, '4713-01-01 BC 00:00:00+00', '4713-01-01 BC 00:00:00', E'"' || repeat('y', 10000) || E'"'),
 (5004, 10000, 3.4028235e38, 1.7976931348623157e308, '294276-12-31 23:59:59.999999+00', '294276-12-31 23:59:59.999999', repeat(E'\t', 3000)),
 (5005, 100000000.00000000, 'NaN', 'NaN', '2000-02-29 12:00:00+00', '2000-02-29 12:00:00', repeat('ü', 2000) || E'\x1f'),
 (5006, 'NaN', 'Infinity', 'Infinity', '1999-12-31 23:59:59.5+00', '1999-12-31 23:59:59.5', NULL),
 (5007, 'Infinity', '-Infinity', '-Infinity', NULL, NULL, '\u'),
 (5008, '-Infinity', NULL, NULL, NULL, NULL, NULL),
 (5009, 10::numeric ^ 300 + 1, NULL, NULL, NULL, NULL, NULL),
 (5010, round(-1 / 3::numeric, 200), NULL, NULL, NULL, NULL, NULL),
 (5011, 1e-300, NULL, NULL, NULL, NULL, NULL),
 (5012, 99999999999999999999.99999999999999999999, NULL, NULL, NULL, NULL, NULL),
 (5013, 0.00000000000000000000000000000000000001, NULL, NULL, NULL, NULL, NULL),
 (5014, -123456789012.000000, NULL, NULL, NULL, NULL, NULL);
-- the same values again as updates (old key in "before", new row in "after")
UPDATE fastpath SET id = id + 10000 WHERE id % 2 = 0;

-- a column's raw JSON value in a line: a number, null, or a string (unescaped)
CREATE FUNCTION fastpath_raw(line text, col text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN v LIKE '"%' THEN (v::jsonb)#>>'{}' WHEN v = 'null' THEN NULL ELSE v END
    FROM substring(line FROM '"after":\{.*"' || col || '":("(?:[^"\\]|\\.)*"|[^,}]*)') v
$$;
-- decode the slot (peek: every setting reads the same changes) and count, per
-- column, the values that differ from value::text under the current settings
CREATE FUNCTION fastpath_check() RETURNS TABLE (changes bigint, n bigint, n2 bigint,
    f4 bigint, f8 bigint, ts bigint, t bigint, s bigint, s_jsonb bigint)
LANGUAGE sql AS $$
  WITH c AS (SELECT data FROM pg_logical_slot_peek_changes('fastpath', NULL, NULL)),
       r AS (SELECT c.data, f.*
               FROM c JOIN fastpath f
                 ON f.id = (substring(c.data FROM '"after":\{"id":(\d+)'))::int)
  SELECT (SELECT count(*) FROM c),
         count(*) FILTER (WHERE fastpath_raw(data, 'n') IS DISTINCT FROM n::text),
         count(*) FILTER (WHERE fastpath_raw(data, 'n2') IS DISTINCT FROM n2::text),
         count(*) FILTER (WHERE fastpath_raw(data, 'f4') IS DISTINCT FROM f4::text),
         count(*) FILTER (WHERE fastpath_raw(data, 'f8') IS DISTINCT FROM f8::text),
         count(*) FILTER (WHERE fastpath_raw(data, 'ts') IS DISTINCT FROM ts::text),
         count(*) FILTER (WHERE fastpath_raw(data, 't') IS DISTINCT FROM t::text),
         count(*) FILTER (WHERE fastpath_raw(data, 's') IS DISTINCT FROM s),
         count(*) FILTER (WHERE (data::jsonb)->'after'->>'s' IS DISTINCT FROM s)
    FROM r
$$;

-- finite numbers are JSON numbers, non-finite ones strings
SELECT substring(data FROM '"after":\{"id":(\d+)') AS id,
       substring(data FROM '"n":([^,]*)') AS n, substring(data FROM '"f4":([^,]*)') AS f4,
       substring(data FROM '"f8":([^,]*)') AS f8
  FROM pg_logical_slot_peek_changes('fastpath', NULL, NULL)
 WHERE data ~ '"after":\{"id":500[1-8],'
 ORDER BY 1;

SET datestyle = 'ISO, YMD';
SET timezone = 'UTC';
SELECT * FROM fastpath_check();            -- extra_float_digits = 1 (default)
SET extra_float_digits = 0;                -- floats through float4out/float8out
SELECT * FROM fastpath_check();
SET extra_float_digits = 3;
SET timezone = 'America/New_York';
SELECT * FROM fastpath_check();
SET datestyle = 'SQL, DMY';
SET timezone = 'Asia/Kolkata';
SELECT * FROM fastpath_check();
SET datestyle = 'Postgres, MDY';
SET timezone = 'Australia/Lord_Howe';
SET extra_float_digits = -15;
SELECT * FROM fastpath_check();
SET datestyle = 'German';
SET timezone = '-03:30';
RESET extra_float_digits;
SELECT * FROM fastpath_check();
RESET datestyle;
RESET timezone;

SELECT pg_drop_replication_slot('fastpath');
DROP FUNCTION fastpath_check();
DROP FUNCTION fastpath_raw(text, text);
DROP TABLE fastpath;
