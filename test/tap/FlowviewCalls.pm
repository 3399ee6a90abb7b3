# FlowviewCalls: every function of schema flowview, called with NULL and
# malformed arguments (for the no-crash tests 030 and 032).
#
#   my $states = FlowviewCalls::call_all($node, $check [, $role]);
#
# reads the functions from pg_proc (so functions added later are covered),
# and for each calls it once with plausible arguments, then with NULL in
# each argument position, then with malformed values of each argument's
# type (empty and garbage text, unknown OIDs, negative and huge numbers and
# intervals), then with every argument NULL.  The plausible values assume
# the objects the tests create: table src (g, org, v), live view v1, org
# unit u1, role someone.  Each call runs in its own session and transaction,
# rolled back (and the worker resumed afterwards, in case the call paused
# it); with $role, each call runs as that role (SET LOCAL ROLE).  $check->($case, $sql, $sqlstate, $ret, $stderr) is called after each
# call: $sqlstate is 'ok', 'lost' (the connection was lost) or the ERROR's
# SQLSTATE.  Returns { function => { sqlstate => count } }.
#
#   FlowviewCalls::fixture($node [, $extra_sql [, version => '0.2']]);
#
# creates in database postgres the objects the plausible values name
# (the extension, at that version if given, src, live view v1, org unit u1,
# alert a1, role someone), then runs $extra_sql.
package FlowviewCalls;

use strict;
use warnings;
use PostgreSQL::Test::Cluster;

sub fixture
{
	my ($node, $extra, %opt) = @_;
	my $version = $opt{version} ? " VERSION '$opt{version}'" : '';
	$node->safe_psql('postgres', qq{CREATE EXTENSION pg_flowview$version;} . q{
		CREATE TABLE src (id int PRIMARY KEY, g text, org text, v int);
		INSERT INTO src SELECT i, 'g' || (i % 3), 'u1', i FROM generate_series(1, 30) i;
		SELECT flowview.create_view('v1', 'SELECT g, org, count(*) AS n, sum(v) AS s FROM src GROUP BY g, org');
		SELECT flowview.add_org_unit('u1');
		SELECT flowview.create_alert('a1', 'v1', 'n > 100');
		CREATE ROLE someone;
	} . ($extra // ''));
	return;
}

# plausible values by argument name, else by type
our %by_name = (
	query => q{'SELECT g, count(*) AS n FROM src GROUP BY g'},
	# alter_view(v1, new_query, minmax): a change of columns (s dropped) that
	# alert a1 (n > 100) survives; rollback_view(v1) then has no previous version
	new_query => q{'SELECT g, org, count(*) AS n FROM src GROUP BY g, org'},
	condition => q{'n > 1'},
	minmax => q{'rescan'},
	unit => q{'u1'},
	parent => q{'u1'},
	new_parent => q{'u1'},
	u => q{'u1'},
	column_name => q{'g1'},
	org_column => q{'org'},
	statements => q{'{}'::text[]},
	source_rel => q{'src'::regclass},
	used_columns => q{'{g,org,v}'::text[]},
);
our %plausible = (
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
our %malformed = (
	text => [q{''}, q{'garbage('' "x'}, q{repeat('x', 100000)}],
	regclass => [q{0::oid::regclass}, q{4000000000::oid::regclass}, q{'pg_class'::regclass}],
	interval => [q{'-1 s'::interval}, q{'0'::interval}, q{'100000000 days'::interval}, q{'178000000 years'::interval}],
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

# one call in its own transaction, rolled back; returns (psql's exit code,
# sqlstate, stderr, the call)
sub call
{
	my ($node, $states, $role, $fname, @args) = @_;
	my $sql = "flowview.$fname(" . join(', ', @args) . ')';
	my $setrole = $role ? "SET LOCAL ROLE $role;" : '';
	my ($ret, $out, $err) = $node->psql('postgres', qq{
\\set VERBOSITY verbose
BEGIN;
SET LOCAL statement_timeout = '30s';
$setrole
SELECT $sql;
ROLLBACK;
SELECT flowview.resume_apply()
  WHERE current_setting('shared_preload_libraries') LIKE '%pg_flowview%';
}, on_error_stop => 0);
	my ($state) = $err =~ /^(?:psql:[^\n]*?)?(?:ERROR|FATAL|PANIC):\s+([0-9A-Z]{5}):/m;
	$state //= ($ret == 2 || $err =~ /connection to server|server closed the connection/) ? 'lost' : 'ok';
	$states->{$fname}{$state}++;
	return ($ret, $state, $err, $sql);
}

sub call_all
{
	my ($node, $check, $role) = @_;
	my %states;

	my @funcs = split /\n/, $node->safe_psql('postgres', q{
		SELECT p.oid || '|' || quote_ident(p.proname) || '|' || p.pronargs || '|' ||
		       coalesce(array_to_string(p.proargnames[1:p.pronargs], ','), '') || '|' ||
		       coalesce((SELECT string_agg(format_type(t, NULL), ',' ORDER BY o)
		                 FROM unnest(p.proargtypes) WITH ORDINALITY a(t, o)), '')
		FROM pg_proc p WHERE p.pronamespace = 'flowview'::regnamespace ORDER BY p.proname, p.oid});

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
			my ($ret, $state, $err, $sql) = call($node, \%states, $role, $fname, @args);
			$check->($what, $sql, $state, $ret, $err);
		}
	}
	return \%states;
}

1;
