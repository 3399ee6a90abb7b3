# The apply worker's SQL does not depend on any search_path (issue 11, part
# 1): a database owner who creates public.+ (bigint, bigint), public.+
# (numeric, numeric), public.= (text, text) and an aggregate public.sum
# (numeric), and sets ALTER DATABASE ... SET search_path = public, pg_catalog,
# gets none of them called by the worker after it restarts (every function
# would make the owner a superuser when run by a superuser outside a client
# session, and records each call).  Views created by a superuser and by a
# flowview_admin member stay equal to their queries through inserts,
# updates that remove a group's minimum (min/max re-read from the source)
# and deletes; the attacker stays no superuser.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FlowviewTest;

my $node = FlowviewTest::node('privilege_worker');
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_flowview;
	CREATE ROLE fv_owner LOGIN;                       -- will own the database
	CREATE ROLE fv_admin LOGIN IN ROLE flowview_admin;
	CREATE TABLE sales (id int PRIMARY KEY, region text, qty bigint, amount numeric);
	ALTER TABLE sales REPLICA IDENTITY FULL;
	GRANT SELECT ON sales TO fv_admin;
	GRANT CREATE ON SCHEMA public TO fv_admin;
	INSERT INTO sales SELECT i, 'r' || i % 5, i, i * 1.5 FROM generate_series(1, 200) i;
	SELECT flowview.create_view('by_region_su',
	    $$SELECT region, count(*) AS n, sum(qty) AS q, sum(amount) AS total, min(amount) AS lo, max(qty) AS hi
	        FROM sales WHERE region <> 'r4' GROUP BY region$$);
	SET ROLE fv_admin;
	SELECT flowview.create_view('by_region_admin',
	    $$SELECT region, count(*) AS n, sum(amount) FILTER (WHERE qty > 10) AS total, min(qty) AS lo
	        FROM sales GROUP BY region$$);
	RESET ROLE;
	ALTER DATABASE postgres OWNER TO fv_owner;
});
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'views live');

# The database owner's trap: shadowing operators and an aggregate in public,
# each recording its calls and escalating when a superuser background
# process runs it.
$node->safe_psql('postgres', q{
	SET ROLE fv_owner;
	CREATE TABLE public.calls (fn text, backend_type text, usr name);
	GRANT INSERT ON public.calls TO PUBLIC;
	CREATE FUNCTION public.trap(fn text) RETURNS void LANGUAGE plpgsql AS $$
	BEGIN
	    INSERT INTO public.calls SELECT fn, backend_type, current_user
	      FROM pg_catalog.pg_stat_activity WHERE pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid();
	    IF (SELECT backend_type FROM pg_catalog.pg_stat_activity
	         WHERE pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()) OPERATOR(pg_catalog.<>) 'client backend' THEN
	        ALTER ROLE fv_owner SUPERUSER;
	    END IF;
	END $$;
	CREATE FUNCTION public.int8_add(bigint, bigint) RETURNS bigint LANGUAGE plpgsql AS $$
	BEGIN PERFORM public.trap('int8 +'); RETURN $1 OPERATOR(pg_catalog.+) $2; END $$;
	CREATE FUNCTION public.numeric_add(numeric, numeric) RETURNS numeric LANGUAGE plpgsql AS $$
	BEGIN PERFORM public.trap('numeric +'); RETURN $1 OPERATOR(pg_catalog.+) $2; END $$;
	CREATE FUNCTION public.text_eq(text, text) RETURNS boolean LANGUAGE plpgsql AS $$
	BEGIN PERFORM public.trap('text ='); RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
	CREATE FUNCTION public.numeric_acc(numeric, numeric) RETURNS numeric STRICT LANGUAGE plpgsql AS $$
	BEGIN PERFORM public.trap('sum(numeric)'); RETURN $1 OPERATOR(pg_catalog.+) $2; END $$;
	CREATE OPERATOR public.+ (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.int8_add);
	CREATE OPERATOR public.+ (LEFTARG = numeric, RIGHTARG = numeric, FUNCTION = public.numeric_add);
	CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.text_eq);
	CREATE AGGREGATE public.sum(numeric) (SFUNC = public.numeric_acc, STYPE = numeric);
	ALTER DATABASE postgres SET search_path = public, pg_catalog;
});
# the trap works: a superuser client session does call it (and is not a
# background process, so nothing escalates)
is($node->safe_psql('postgres', q{SELECT 1::bigint + 2::bigint; SELECT count(*) FROM public.calls}), "3\n1",
	'a session with the database search_path calls the shadowing operator');
$node->safe_psql('postgres', 'TRUNCATE public.calls');

$node->restart;    # the worker connects again, with the database's search_path
is($node->safe_psql('postgres', 'SHOW search_path'), 'public, pg_catalog', 'the database search_path is in force');

# writes the worker applies: inserts, updates moving rows and removing
# minimums (re-reads), deletes
$node->safe_psql('postgres', q{
	INSERT INTO sales SELECT i, 'r' || i % 5, i, i * 1.5 FROM generate_series(201, 300) i;
	UPDATE sales SET amount = amount + 1000, region = 'r' || (id + 1) % 5 WHERE id % 7 = 0;
	UPDATE sales SET qty = qty + 500 WHERE id <= 20;
	DELETE FROM sales WHERE id % 11 = 0;
});
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'views caught up');
is($node->safe_psql('postgres', q{SELECT string_agg(view || ': ' || state || coalesce(' ' || error, ''), ', ' ORDER BY view::text)
                                    FROM flowview.views}),
	'by_region_admin: live, by_region_su: live', 'both views live');
is(FlowviewTest::differences($node, 'by_region_su',
		q{SELECT region, count(*) AS n, sum(qty) AS q, sum(amount) AS total, min(amount) AS lo, max(qty) AS hi
		    FROM sales WHERE region OPERATOR(pg_catalog.<>) 'r4' GROUP BY region}), '',
	'the superuser\'s view equals its query');
is(FlowviewTest::differences($node, 'by_region_admin',
		q{SELECT region, count(*) AS n, pg_catalog.sum(amount) FILTER (WHERE qty > 10) AS total, min(qty) AS lo
		    FROM sales GROUP BY region}), '',
	'the admin\'s view equals its query');

# refresh_view (run by the admin, whose session has the database's path)
$node->safe_psql('postgres', q{SET ROLE fv_admin; SELECT flowview.refresh_view('by_region_admin')});
is($node->safe_psql('postgres', "SELECT flowview.wait_for_freshness(NULL, '60 s')"), 't', 'refreshed view live');

is($node->safe_psql('postgres',
		q{SELECT coalesce(string_agg(DISTINCT fn || ' by ' || backend_type, ', '), 'none') FROM public.calls
		   WHERE backend_type OPERATOR(pg_catalog.<>) 'client backend'}),
	'none', 'the worker called none of the database owner\'s operators or aggregates');
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'fv_owner'}),
	'f', 'the database owner is still no superuser');
is($node->safe_psql('postgres', q{SELECT pg_catalog.current_setting('search_path')}), 'public, pg_catalog',
	'(the sessions still have the database search_path)');

# pg_flowview's own DDL allowance ends with the (sub)transaction that
# failed: enable_org_security fails on a lock timeout inside an EXCEPTION
# block, and the admin's next DDL on its storage is refused all the same
my $store = $node->safe_psql('postgres', q{SELECT flowview.storage_table('by_region_admin')});
my $locker = $node->background_psql('postgres');
$locker->query_safe("BEGIN; LOCK TABLE $store IN ACCESS SHARE MODE");
my ($rc, $out, $err) = $node->psql('postgres', qq{
	SET ROLE fv_admin;
	SET lock_timeout = '200ms';
	BEGIN;
	DO \$\$ BEGIN
	    PERFORM flowview.enable_org_security('by_region_admin', 'region');
	EXCEPTION WHEN lock_not_available THEN RAISE NOTICE 'enable_org_security: %', SQLERRM;
	END \$\$;
	CREATE RULE r AS ON INSERT TO $store DO ALSO NOTHING;
	COMMIT;});
$locker->query_safe('COMMIT');
$locker->quit;
like($err, qr/enable_org_security: canceling statement due to lock timeout.*CREATE RULE is not allowed on $store/s,
	'a failed enable_org_security leaves no DDL allowance behind');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_rewrite WHERE ev_class = '$store'::regclass"), '0',
	'no rule on the storage');

$node->stop;
done_testing();
