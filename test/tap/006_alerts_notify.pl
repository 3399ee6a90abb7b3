# Alerts on live data, as a listening application sees them: a session that
# LISTENs on a rule's channel receives one NOTIFY with a JSON payload when a
# group starts satisfying the condition (an order burst), none while it goes
# on satisfying it, none when it stops, and one more when it starts again.
# Channels are identifiers (a quoted, mixed-case channel works).  The episode
# state survives a server restart (no second notification for the same
# burst), and DROP EXTENSION removes the rules.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use FlowviewTest;

my $node = FlowviewTest::node('alerts');
$node->start;
$node->safe_psql('postgres', q{
	SET TimeZone = 'UTC';    -- pinned by the views: the group keys' minutes are in UTC
	CREATE EXTENSION pg_flowview;
	CREATE TABLE orders (id serial PRIMARY KEY, region text, ts timestamptz, amount numeric);
	CREATE TABLE logins (id serial PRIMARY KEY, username text, ts timestamptz, ok boolean);
	SELECT flowview.create_view('orders_per_minute',
	    $$SELECT region, date_trunc('minute', ts) AS minute, count(*) AS orders, sum(amount) AS revenue
	        FROM orders GROUP BY 1, 2$$);
	SELECT flowview.create_view('login_failures',
	    $$SELECT username, date_trunc('minute', ts) AS minute, count(*) FILTER (WHERE NOT ok) AS failures
	        FROM logins GROUP BY 1, 2$$);
	SELECT flowview.create_alert('order burst', 'orders_per_minute', 'orders > 100');
	SELECT flowview.create_alert('suspicious logins', 'login_failures', 'failures >= 5', 'Security "Team"');
});
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '30 s')"), 't', 'views live');
sleep 1;    # the worker rereads its rules every 250 ms

# the listening application
my $listener = $node->background_psql('postgres');
$listener->query_safe(q{LISTEN flowview_alert; LISTEN "Security ""Team"""});

# notifications the listener received since the last call: [channel, payload]
sub received
{
	my $out = $listener->query_safe('SELECT 1');
	return map { [ $_->[0], decode_json($_->[1]) ] }
	  map { [/^Asynchronous notification "(.*?)" with payload "(.*)" received from server process/] }
	  grep { /^Asynchronous notification/ } split /\n/, $out;
}

sub write_and_wait
{
	my ($sql) = @_;
	$node->safe_psql('postgres', $sql);
	is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '30 s')"), 't', 'applied');
}

my $minute = "'2026-11-30 10:00:00+00'";

# below the threshold: nothing
write_and_wait("INSERT INTO orders (region, ts, amount) SELECT 'eu', $minute, 1 FROM generate_series(1, 100)");
is(scalar(my @n = received()), 0, '100 orders in a minute: no notification');

# the burst starts: one notification
write_and_wait("INSERT INTO orders (region, ts, amount) SELECT 'eu', $minute, 2 FROM generate_series(1, 5)");
my @n1 = received();
is(scalar(@n1), 1, 'burst: one notification');
my ($chan, $p) = @{ $n1[0] };
is($chan, 'flowview_alert', 'on the default channel');
is($p->{alert}, 'order burst', 'payload: alert');
is($p->{view}, 'public.orders_per_minute', 'payload: view, schema-qualified');
is_deeply($p->{group_key}, { region => 'eu', minute => '2026-11-30T10:00:00+00:00' }, 'payload: group key');
is($p->{values}{orders}, 105, 'payload: values (orders)');
is($p->{values}{revenue}, 110, 'payload: values (revenue)');
is($p->{values}{region}, 'eu', 'payload: values (group key columns too)');
ok($p->{event_id} && $p->{fired_at}, 'payload: event_id and fired_at');
is($node->safe_psql('postgres', "SELECT alert, group_values->>'orders', ended_at IS NULL FROM flowview.alert_events WHERE id = $p->{event_id}"),
	'order burst|105|t', 'the event row matches the payload');

# still bursting, over several transactions and batches: nothing
for my $i (1 .. 3)
{
	write_and_wait("INSERT INTO orders (region, ts, amount) SELECT 'eu', $minute, 1 FROM generate_series(1, 10)");
}
is(scalar(my @n2 = received()), 0, 'still bursting: no more notifications');

# another group bursting at the same time: its own notification
write_and_wait("INSERT INTO orders (region, ts, amount) SELECT 'us', $minute, 1 FROM generate_series(1, 101)");
my @n3 = received();
is(scalar(@n3), 1, 'another group bursts: one notification');
is($n3[0][1]{group_key}{region}, 'us', 'for that group');

# falls below: nothing (the event is closed); bursts again: one more
write_and_wait("DELETE FROM orders WHERE region = 'eu' AND id % 2 = 0");
is(scalar(my @n4 = received()), 0, 'falls below: no notification');
is($node->safe_psql('postgres', "SELECT ended_at IS NOT NULL FROM flowview.alert_events WHERE id = $p->{event_id}"),
	't', 'the first episode ended');
write_and_wait("INSERT INTO orders (region, ts, amount) SELECT 'eu', $minute, 1 FROM generate_series(1, 60)");
my @n5 = received();
is(scalar(@n5), 1, 'bursts again: one more notification');
is($n5[0][1]{group_key}{region}, 'eu', 'for the same group');
cmp_ok($n5[0][1]{event_id}, '>', $p->{event_id}, 'as a new event');

# a quoted, mixed-case channel
write_and_wait("INSERT INTO logins (username, ts, ok) SELECT 'mallory', $minute, false FROM generate_series(1, 5)");
my @n6 = received();
is(scalar(@n6), 1, 'suspicious logins: one notification');
is($n6[0][0], 'Security "Team"', 'on the rule\'s channel, as named');
is($n6[0][1]{values}{failures}, 5, 'with the failures');

# the episode state is durable: a restart does not announce the burst again
$listener->quit;
$node->restart;
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '30 s')"), 't', 'live after restart');
$listener = $node->background_psql('postgres');
$listener->query_safe(q{LISTEN flowview_alert});
sleep 1;
write_and_wait("INSERT INTO orders (region, ts, amount) SELECT 'eu', $minute, 1 FROM generate_series(1, 5)");
is(scalar(my @n7 = received()), 0, 'after a restart, the ongoing burst is not announced again');
is($node->safe_psql('postgres', q{SELECT string_agg(name || ':' || events || ':' || firing_groups, ',' ORDER BY name) FROM flowview.alerts}),
	'order burst:3:2,suspicious logins:1:1', 'flowview.alerts: events and firing groups per rule');
$listener->quit;

# DROP EXTENSION takes the rules along
$node->safe_psql('postgres', 'DROP EXTENSION pg_flowview CASCADE');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_class WHERE relname LIKE 'alert\_%'}), '0',
	'DROP EXTENSION removes the alert tables');
$node->safe_psql('postgres', 'CREATE EXTENSION pg_flowview');
is($node->safe_psql('postgres', 'SELECT count(*) FROM flowview.alerts'), '0', 'a new extension starts without rules');

$node->stop;
done_testing();
