/* pg_flowview 0.1 -> 0.2 (ALTER EXTENSION pg_flowview UPDATE)
 *
 * 0.1 is released and its install script never changes; a fresh
 * CREATE EXTENSION installs 0.1 and runs this script, so an upgraded database
 * and a new one have the same objects (test/tap/011_upgrade.pl checks both).
 * Everything below must therefore work on a database that already has views,
 * alerts and an org hierarchy, while writers keep writing.
 */
\echo Use "ALTER EXTENSION pg_flowview UPDATE" to load this file. \quit

-- ==== privilege model: who runs what (issue 11, part 1) ====

-- ==== end of privilege model ====


-- ==== bad input, crashes, memory (issue 11, part 2) ====

-- ==== end of bad input ====


-- ==== source changes and view correctness (issue 11, part 3) ====

-- ==== end of source changes ====


-- ==== data shapes: keys, collations, min/max (issue 11, part 3) ====

-- ==== end of data shapes ====
