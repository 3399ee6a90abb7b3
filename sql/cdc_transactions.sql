-- Only committed work is emitted, once, at commit: rollbacks, aborted
-- subtransactions, TRUNCATE, two-phase commit, updates and deletes.
CREATE TABLE acct (id int PRIMARY KEY, owner text, balance numeric);
CREATE TABLE acct_log (id int PRIMARY KEY);
SELECT 'init' FROM pg_create_logical_replication_slot('tx', 'pg_flowview');

-- a rolled-back transaction emits nothing
BEGIN;
INSERT INTO acct VALUES (1, 'rolled back', 0);
ROLLBACK;
SELECT count(*) AS after_rollback FROM cdc('tx');

-- aborted subtransactions emit nothing; the rest of the transaction does
BEGIN;
INSERT INTO acct VALUES (1, 'kept', 1);
SAVEPOINT s1;
INSERT INTO acct VALUES (2, 'aborted', 2);
SAVEPOINT s2;
INSERT INTO acct VALUES (3, 'aborted too', 3);
ROLLBACK TO s1;
SAVEPOINT s3;
INSERT INTO acct VALUES (4, 'released', 4);
RELEASE s3;
COMMIT;
SELECT * FROM cdc('tx', 'include-transaction', 'on');

-- updates and deletes; with the default replica identity "before" holds the key
UPDATE acct SET balance = balance + 1 WHERE id = 1;
UPDATE acct SET id = 5 WHERE id = 4;
DELETE FROM acct WHERE id = 5;
SELECT * FROM cdc('tx');
-- with REPLICA IDENTITY FULL "before" is the whole old row
ALTER TABLE acct REPLICA IDENTITY FULL;
UPDATE acct SET balance = 100 WHERE id = 1;
DELETE FROM acct WHERE id = 1;
SELECT * FROM cdc('tx');
-- with REPLICA IDENTITY NOTHING deletes have no "before"
ALTER TABLE acct REPLICA IDENTITY NOTHING;
INSERT INTO acct VALUES (6, 'n', 0);
DELETE FROM acct WHERE id = 6;
SELECT * FROM cdc('tx');
ALTER TABLE acct REPLICA IDENTITY DEFAULT;

-- TRUNCATE: one "t" change per table
INSERT INTO acct VALUES (7, 't', 0);
INSERT INTO acct_log VALUES (1);
TRUNCATE acct, acct_log;
SELECT * FROM cdc('tx');
-- a rolled-back TRUNCATE emits nothing
BEGIN; TRUNCATE acct; ROLLBACK;
SELECT count(*) AS after_rolled_back_truncate FROM cdc('tx');

-- two-phase commit: nothing at PREPARE, everything at COMMIT PREPARED
BEGIN;
INSERT INTO acct VALUES (8, 'prepared', 8);
PREPARE TRANSACTION 'fv_2pc_commit';
SELECT count(*) AS after_prepare FROM cdc('tx');
COMMIT PREPARED 'fv_2pc_commit';
SELECT * FROM cdc('tx', 'include-transaction', 'on');
-- ROLLBACK PREPARED emits nothing
BEGIN;
INSERT INTO acct VALUES (9, 'prepared then rolled back', 9);
PREPARE TRANSACTION 'fv_2pc_rollback';
ROLLBACK PREPARED 'fv_2pc_rollback';
SELECT count(*) AS after_rollback_prepared FROM cdc('tx');

-- a multi-statement transaction comes out whole, in statement order
BEGIN;
INSERT INTO acct VALUES (10, 'a', 0);
UPDATE acct SET owner = 'b' WHERE id = 10;
INSERT INTO acct_log VALUES (10);
COMMIT;
SELECT * FROM cdc('tx');

SELECT pg_drop_replication_slot('tx');
