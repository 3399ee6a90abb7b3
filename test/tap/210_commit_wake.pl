# An idle apply worker is woken by the commit of a transaction that wrote in
# its database, not by a timer: with a 10 s naptime (the idle worker's
# longest sleep then), a committed row must be in its view within a second,
# also when committed with synchronous_commit = off while the WAL writer
# sleeps for 10 s (the worker flushes up to the commit itself), and after
# COMMIT PREPARED.  While the
# worker keeps up, commits do not wake it between batches: a stream of 50
# commits over a second makes at most two batches at that naptime, and
# wait_for_freshness still ends the pause at once.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FlowviewTest;

my $node = FlowviewTest::node('commit_wake',
	'pg_flowview.naptime' => "'10s'",
	'wal_writer_delay' => "'10s'");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_flowview;
	CREATE TABLE src (id int PRIMARY KEY, g int);
	SELECT flowview.create_view('per_g', 'SELECT g, count(*) AS n FROM src GROUP BY g');
	-- commit a row, then poll every millisecond until the view counts it:
	-- milliseconds from just before the COMMIT
	CREATE PROCEDURE probe(id int, sync text, INOUT ms float8 DEFAULT NULL) LANGUAGE plpgsql AS $$
	DECLARE t0 timestamptz;
	BEGIN
	    PERFORM set_config('synchronous_commit', sync, false);
	    t0 := clock_timestamp();
	    INSERT INTO src VALUES (id, id);
	    COMMIT;
	    WHILE NOT EXISTS (SELECT FROM per_g WHERE g = id) LOOP
	        PERFORM pg_sleep(0.001);
	        EXIT WHEN clock_timestamp() > t0 + interval '15 s';
	    END LOOP;
	    ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
	    PERFORM set_config('synchronous_commit', 'on', false);
	END $$;
	-- poll until the view counts id: milliseconds waited
	CREATE PROCEDURE seen(id int, INOUT ms float8 DEFAULT NULL) LANGUAGE plpgsql AS $$
	DECLARE t0 timestamptz := clock_timestamp();
	BEGIN
	    WHILE NOT EXISTS (SELECT FROM per_g WHERE g = id) LOOP
	        PERFORM pg_sleep(0.001);
	        EXIT WHEN clock_timestamp() > t0 + interval '15 s';
	    END LOOP;
	    ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
	END $$;
	CREATE PROCEDURE stream(n int) LANGUAGE plpgsql AS $$
	BEGIN
	    FOR i IN 1 .. n LOOP
	        INSERT INTO src VALUES (1000 + i, 0);
	        COMMIT;
	        PERFORM pg_sleep(0.02);
	    END LOOP;
	END $$;
});
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('per_g', '60 s')"), 't', 'view live');

# Each probe starts from an idle worker: wait_for_freshness ends the pause
# after the previous batch, then a second lets the worker go back to sleep.
my $id = 0;
for my $sync ('on', 'on', 'off', 'off', 'on')
{
	$id++;
	$node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('per_g', '60 s'); SELECT pg_sleep(1)");
	my $ms = $node->safe_psql('postgres', "CALL probe($id, '$sync')");
	note sprintf('probe %d (synchronous_commit = %s): visible after %.1f ms', $id, $sync, $ms);
	cmp_ok($ms, '<', 1000, "synchronous_commit = $sync: the commit woke the idle worker (naptime 10 s)");
}

# COMMIT PREPARED: its own transaction has no id, yet it wrote the commit
$id++;
$node->safe_psql('postgres', "BEGIN; INSERT INTO src VALUES ($id, $id); PREPARE TRANSACTION 'p$id'");
$node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('per_g', '60 s'); SELECT pg_sleep(1)");
my $ms = $node->safe_psql('postgres', "COMMIT PREPARED 'p$id'; CALL seen($id)");
note sprintf('COMMIT PREPARED: visible after %.1f ms', $ms);
cmp_ok($ms, '<', 1000, 'COMMIT PREPARED woke the idle worker');

# a stream of commits while the worker keeps up: batches stay a naptime apart
$node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('per_g', '60 s'); SELECT pg_sleep(1)");
my $before = $node->safe_psql('postgres', 'SELECT batches FROM flowview.stats');
$node->safe_psql('postgres', 'CALL stream(50)');
my $during = $node->safe_psql('postgres', 'SELECT batches FROM flowview.stats') - $before;
note "batches during 50 commits over about a second: $during";
cmp_ok($during, '<=', 2, 'commits do not wake the worker between batches');
cmp_ok($during, '>=', 1, 'the first commit of the stream woke it');
my $t0 = time;
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('per_g', '60 s')"), 't',
	'wait_for_freshness ends the pause');
cmp_ok(time - $t0, '<', 5, 'without waiting for the 10 s naptime');
is(FlowviewTest::differences($node, 'per_g', 'SELECT g, count(*) AS n FROM src GROUP BY g'),
	'', 'view equals its query');
$node->stop;
done_testing();
