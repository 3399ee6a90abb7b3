-- CREATE EXTENSION on a correctly configured server, and helpers the cdc_*
-- tests share.  (Misconfigured servers are covered by test/tap.)
CREATE EXTENSION pg_flowview;
SELECT nspname FROM pg_namespace WHERE nspname = 'flowview';
SELECT flowview._check_server_settings();
SHOW wal_level;

-- cdc(slot, options...): the slot's pending changes with the fields that
-- differ run to run (xids, LSNs, times) replaced by "X", "L" and "T"
-- (so each line is still JSON).
CREATE FUNCTION cdc_stable(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT regexp_replace(regexp_replace(regexp_replace(regexp_replace(t,
      '"(xid|txId)":\d+', '"\1":"X"', 'g'),
      '"(lsn|commit_lsn)":("[0-9A-F]+/[0-9A-F]+"|\d+)', '"\1":"L"', 'g'),
      '"(commit_time|ts_ms)":("[^"]*"|\d+)', '"\1":"T"', 'g'),
      '"id":"\d+:\d+"', '"id":"X:L"', 'g')
$$;
CREATE FUNCTION cdc(slot name, VARIADIC opts text[] DEFAULT '{}') RETURNS SETOF text
LANGUAGE sql AS $$
  SELECT cdc_stable(data) FROM pg_logical_slot_get_changes(slot, NULL, NULL, VARIADIC opts)
$$;
