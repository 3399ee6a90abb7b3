# No input crashes the server: every function of schema flowview, found in
# pg_proc (so functions added later are covered without editing this file),
# is called with NULL in each argument position and with malformed values
# (empty and garbage text, unknown OIDs, negative and huge numbers and
# intervals) while the other arguments are plausible.  Each call must
# succeed or fail with an ERROR: never lose its connection.  A sentinel
# session stays connected throughout (a backend crash ends every session)
# and the server log must have no "terminated by signal".  No call may
# give SQLSTATE XX000 (an elog without errcode, or an internal error):
# every failure names a real condition.  The SQLSTATE of every call
# is printed (note) for the record.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FlowviewTest;

my $node = FlowviewTest::node('bad_input');
$node->append_conf('postgresql.conf', "restart_after_crash = off\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_flowview;
	CREATE TABLE src (id int PRIMARY KEY, g text, org text, v int);
	INSERT INTO src SELECT i, 'g' || (i % 3), 'u1', i FROM generate_series(1, 30) i;
	SELECT flowview.create_view('v1', 'SELECT g, org, count(*) AS n, sum(v) AS s FROM src GROUP BY g, org');
	SELECT flowview.add_org_unit('u1');
	SELECT flowview.create_alert('a1', 'v1', 'n > 100');
	CREATE ROLE someone;
});
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness('v1', '60 s')"), 't', 'v1 live');

my $sentinel = $node->background_psql('postgres');
$sentinel->query_safe('SELECT 1');

# plausible values by argument name, else by type
my %by_name = (
	query => q{'SELECT g, count(*) AS n FROM src GROUP BY g'},
	condition => q{'n > 1'},
	minmax => q{'rescan'},
	unit => q{'u1'},
	parent => q{'u1'},
	new_parent => q{'u1'},
	u => q{'u1'},
	column_name => q{'g1'},
	org_column => q{'org'},
	statements => q{'{}'::text[]},
);
my %plausible = (
	text => q{'bad_input_x'},
	regclass => q{'v1'::regclass},
	interval => q{'1 s'::interval},
	boolean => 'false',
	integer => '1',
	bigint => '1',
	oid => q{'v1'::regclass::oid},
	name => q{'g1'::name},
	regrole => q{'someone'::regrole},
	jsonb => q{'{}'::jsonb},
	'timestamp with time zone' => 'now()',
	'double precision' => '3',
	pg_lsn => q{'0/0'::pg_lsn},
	'text[]' => q{'{}'::text[]},
	anyelement => '1',
	'flowview.view_catalog' => '(SELECT c FROM flowview.view_catalog c LIMIT 1)',
);
my %malformed = (
	text => [q{''}, q{'garbage('' "x'}, q{repeat('x', 100000)}],
	regclass => [q{0::oid::regclass}, q{4000000000::oid::regclass}, q{'pg_class'::regclass}],
	interval => [q{'-1 s'::interval}, q{'0'::interval}, q{'100000000 days'::interval}],
	integer => ['-1', '0', '2147483647'],
	bigint => ['-1', '9223372036854775807'],
	oid => ['0', '4294967295'],
	name => [q{''::name}, q{repeat('y', 63)::name}],
	regrole => [q{0::oid::regrole}, q{4000000000::oid::regrole}],
	jsonb => [q{'[]'::jsonb}, q{'"x"'::jsonb}, q{'{"a": [1, null]}'::jsonb}],
	'timestamp with time zone' => [q{'infinity'}, q{'-infinity'}],
	'double precision' => [q{'NaN'}, '-1', q{'Infinity'}],
	pg_lsn => [q{'FFFFFFFF/FFFFFFFF'::pg_lsn}],
	'text[]' => [q{'{NULL}'::text[]}, q{'{"garbage("}'::text[]}],
	anyelement => [q{'x'::text}],
);

my @funcs = split /\n/, $node->safe_psql('postgres', q{
	SELECT p.oid || '|' || quote_ident(p.proname) || '|' || p.pronargs || '|' ||
	       coalesce(array_to_string(p.proargnames[1:p.pronargs], ','), '') || '|' ||
	       coalesce((SELECT string_agg(format_type(t, NULL), ',' ORDER BY o)
	                 FROM unnest(p.proargtypes) WITH ORDINALITY a(t, o)), '')
	FROM pg_proc p WHERE p.pronamespace = 'flowview'::regnamespace ORDER BY p.proname, p.oid});
cmp_ok(scalar(@funcs), '>=', 40, 'functions of schema flowview found in pg_proc');

my %states;		# function => { sqlstate => count }
my $ncalls = 0;

# one call in its own transaction, rolled back; returns (ok, sqlstate, output)
sub call
{
	my ($fname, @args) = @_;
	my $sql = "flowview.$fname(" . join(', ', @args) . ')';
	my ($ret, $out, $err) = $node->psql('postgres', qq{
\\set VERBOSITY verbose
BEGIN;
SET LOCAL statement_timeout = '30s';
SELECT $sql;
ROLLBACK;
SELECT flowview.resume_apply();
}, on_error_stop => 0);
	$ncalls++;
	my ($state) = $err =~ /^(?:psql:[^\n]*?)?(?:ERROR|FATAL|PANIC):\s+([0-9A-Z]{5}):/m;
	$state //= ($ret == 2 || $err =~ /connection/) ? 'lost' : 'ok';
	$states{$fname}{$state}++;
	return ($ret, $state, $err, $sql);
}

for my $f (@funcs)
{
	my ($oid, $fname, $nargs, $argnames, $argtypes) = split /\|/, $f, -1;
	my @names = split /,/, $argnames, -1;
	my @types = split /,(?! )/, $argtypes, -1;	# "timestamp with time zone" has spaces, no commas
	@types = () if $nargs == 0;
	my @ok = map { $by_name{ $names[$_] // '' } // $plausible{ $types[$_] } // 'NULL' } 0 .. $#types;

	my @cases;
	push @cases, [ 'plausible', @ok ];
	for my $i (0 .. $#types)
	{
		my @a = @ok;
		$a[$i] = $types[$i] eq 'anyelement' ? 'NULL::int' : "NULL::$types[$i]";
		push @cases, [ "NULL at $i", @a ];
		for my $bad (@{ $malformed{ $types[$i] } // [] })
		{
			my @b = @ok;
			$b[$i] = $bad;
			push @cases, [ "malformed at $i", @b ];
		}
	}
	if (@types > 1)
	{
		push @cases, [ 'all NULL', map { $_ eq 'anyelement' ? 'NULL::int' : "NULL::$_" } @types ];
	}
	for my $c (@cases)
	{
		my ($what, @args) = @$c;
		my ($ret, $state, $err, $sql) = call($fname, @args);
		ok($ret != 2 && $err !~ /server closed the connection|connection to server was lost|FATAL|PANIC/,
			"$what: $sql keeps its connection") or diag($err);
		isnt($state, 'XX000', "$what: $fname gives no internal error") or diag($err);
	}
}

for my $f (sort keys %states)
{
	note sprintf('%-28s %s', $f, join(' ', map { "$_:$states{$f}{$_}" } sort keys %{ $states{$f} }));
}
note "$ncalls calls";

# the sentinel survived: no backend crashed meanwhile
is($sentinel->query_safe('SELECT 42'), '42', 'sentinel session still connected');
$sentinel->quit;
my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal|server process .* was terminated/, 'no process terminated by a signal');
is(FlowviewTest::differences($node, 'v1', 'SELECT g, org, count(*) AS n, sum(v) AS s FROM src GROUP BY g, org'), '',
	'v1 still equals its query');
$node->stop;
done_testing();
