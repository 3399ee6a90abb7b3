/* pg_flowview 0.1: the extension's SQL objects. */
\echo Use "CREATE EXTENSION pg_flowview" to load this file. \quit

-- The schema belongs to the extension: DROP EXTENSION removes it.
CREATE SCHEMA flowview;

-- Refuse to install on a server that cannot run pg_flowview; the error names
-- the setting to change.
CREATE FUNCTION flowview._check_server_settings() RETURNS void
    AS 'MODULE_PATHNAME', 'fv_check_server_settings'
    LANGUAGE C STRICT;
SELECT flowview._check_server_settings();
