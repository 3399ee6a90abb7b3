# SourceChangeMatrix: the source-change matrix of 040/041 (issue 11, part 3).
#
#   my $m = SourceChangeMatrix->new($node, $seed, \%views, $writer_body);
#
# installs a writer procedure (the loop body $writer_body, run in a
# subtransaction whose errors are ignored: a writer whose table is renamed
# or detached goes on) and starts two writer sessions in the background.
#
#   $m->step($name, $sql, $refusal);
#
# runs $sql while the writers write.  With $refusal (a regexp) the statement
# must fail with a message matching it (the view named); without, it must
# succeed.  Either way the writers are then paused, and after
# wait_for_freshness every view must be live and equal its query
# (FlowviewTest::differences).  $m->finish stops the writers.
#
#   my ($node, $seed) = SourceChangeMatrix::start_node($name, $setup_sql);
#
# a started node (FlowviewTest::node) with the extension and $setup_sql run;
# the seed is FV_SEED or random, and printed.
#
#   SourceChangeMatrix::create_views($node, \%views, $multiset_view);
#
# creates every view of %views (name => query, or a sub returning it); the
# one named $multiset_view keeps min/max as 'multiset', the others 'rescan'.
package SourceChangeMatrix;

use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use FlowviewTest;

sub start_node
{
	my ($name, $setup) = @_;
	my $seed = $ENV{FV_SEED} // int(rand(1_000_000));
	note "seed $seed (rerun with FV_SEED=$seed)";
	my $node = FlowviewTest::node($name);
	$node->start;
	$node->safe_psql('postgres', "CREATE EXTENSION pg_flowview;\n$setup");
	return ($node, $seed);
}

sub create_views
{
	my ($node, $views, $multiset_view) = @_;
	for my $v (sort keys %$views)
	{
		my $q = ref $views->{$v} ? $views->{$v}->() : $views->{$v};
		my $mode = $v eq $multiset_view ? 'multiset' : 'rescan';
		$node->safe_psql('postgres', "SELECT flowview.create_view('$v', \$q\$$q\$q\$, minmax => '$mode')");
	}
	return;
}

sub new
{
	my ($class, $node, $seed, $views, $body) = @_;
	my $self = bless { node => $node, views => $views, writers => [] }, $class;
	$node->safe_psql('postgres', qq{
		CREATE TABLE writer_ctl (pause boolean NOT NULL, stop boolean NOT NULL);
		INSERT INTO writer_ctl VALUES (false, false);
		CREATE TABLE writer_ack (id int PRIMARY KEY, paused boolean NOT NULL, at timestamptz);
		CREATE PROCEDURE writer(wid int, seed float8) LANGUAGE plpgsql AS \$w\$
		DECLARE
		    c writer_ctl;
		BEGIN
		    PERFORM setseed(seed);
		    INSERT INTO writer_ack VALUES (wid, false, now());
		    COMMIT;
		    LOOP
		        SELECT * INTO c FROM writer_ctl;
		        EXIT WHEN c.stop;
		        IF c.pause THEN
		            UPDATE writer_ack SET paused = true WHERE id = wid;
		            COMMIT;
		            PERFORM pg_sleep(0.005);
		            CONTINUE;
		        END IF;
		        UPDATE writer_ack SET paused = false WHERE id = wid AND paused;
		        BEGIN
		            $body
		        EXCEPTION WHEN OTHERS THEN
		            NULL;
		        END;
		        COMMIT;
		    END LOOP;
		END \$w\$;
	});
	for my $wid (1, 2)
	{
		my ($out, $err) = ('', '');
		my $h = IPC::Run::start(
			[ 'psql', '-X', '-q', '-d', $node->connstr('postgres'),
			  '-c', "CALL writer($wid, " . (($seed % 1000) / 1000 - 0.5 * $wid / 10) . ")" ],
			'>', \$out, '2>', \$err);
		push @{ $self->{writers} }, [ $h, \$out, \$err ];
	}
	$node->poll_query_until('postgres', 'SELECT count(*) = 2 FROM writer_ack')
	  or die 'writers did not start';
	return $self;
}

sub pause
{
	my ($self) = @_;
	my $node = $self->{node};
	$node->safe_psql('postgres', 'UPDATE writer_ctl SET pause = true');
	$node->poll_query_until('postgres', 'SELECT bool_and(paused) FROM writer_ack')
	  or die 'writers did not pause';
}

sub resume
{
	my ($self) = @_;
	$self->{node}->safe_psql('postgres', 'UPDATE writer_ctl SET pause = false');
}

# every view live and equal to its query once fresh; $what names the step
sub check_views
{
	my ($self, $what) = @_;
	my $node = $self->{node};
	$self->pause;
	is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"),
		't', "$what: views fresh");
	is($node->safe_psql('postgres', "SELECT string_agg(view || ' ' || state, ', ') FROM flowview.views WHERE state <> 'live'"),
		'', "$what: views live");
	for my $v (sort keys %{ $self->{views} })
	{
		my $query = $self->{views}{$v};
		$query = $query->() if ref $query eq 'CODE';
		is(FlowviewTest::differences($node, $v, $query), '', "$what: $v equals its query");
	}
	$self->resume;
}

sub step
{
	my ($self, $name, $sql, $refusal) = @_;
	my $node = $self->{node};
	# a moment of writes before and after the change
	select(undef, undef, undef, 0.15);
	my ($rc, $out, $err) = $node->psql('postgres', $sql, on_error_stop => 1);
	if (defined $refusal)
	{
		isnt($rc, 0, "$name: refused");
		like($err, $refusal, "$name: the error names the view");
	}
	else
	{
		is($rc, 0, "$name: accepted") or diag($err);
	}
	select(undef, undef, undef, 0.15);
	$self->check_views($name);
}

sub finish
{
	my ($self) = @_;
	$self->{node}->safe_psql('postgres', 'UPDATE writer_ctl SET stop = true, pause = false');
	for my $w (@{ $self->{writers} })
	{
		$w->[0]->finish;
		is(${ $w->[2] }, '', 'writer ended without error');
	}
}

1;
