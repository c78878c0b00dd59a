# The ground taken away under a running sync, without a cluster restart:
#  (a) DROP EXTENSION shopify_sync CASCADE in the middle of a sync: the
#      worker neither crashes nor loops on errors, goes back to waiting, and
#      after CREATE EXTENSION a new sync completes;
#  (b) DROP DATABASE ... WITH (FORCE) of the worker's database in the middle
#      of a sync: the worker goes, the launcher waits, and after CREATE
#      DATABASE + CREATE EXTENSION a sync completes;
#  (c) shopify.sync_log on a full disk: syncs complete and mirror exactly, a
#      WARNING is logged, and logging resumes once there is space again.
#      With SHOPIFY_TINY_FS (a small file system writable by the test, e.g.
#      a tmpfs scripts/test.sh mounts) the table moves to a tablespace there
#      and the disk really fills up; otherwise a trigger makes every INSERT
#      fail as a full disk does (SQLSTATE 53100).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use ShopifySyncNode;
use ShopifyStandin;

my $t_start = time;
my $shop = ShopifyStandin::make_shop(domain => 'dropped.myshopify.com', products => 1000,
	variants_min => 1, variants_max => 4, bucket => undef, orders => { count => 300, seed => 3 });
my $standin = ShopifyStandin->start(config => { shops => [$shop] },
	dir => PostgreSQL::Test::Utils::tempdir());
my $node = new_sync_node('drop', api => 'rest', base_url => $standin->base_url, conf => <<'EOF');
shopify_sync.rest_page_size = 50
EOF
my $sid = connect_shop($node, $shop);
my $postmaster = (split /\n/, slurp_file($node->data_dir . '/postmaster.pid'))[0];
my $launcher = launcher_pid($node);
my $worker = worker_pid($node);
note("postmaster $postmaster, launcher $launcher, worker $worker");

sub pages
{
	my ($job) = @_;
	my ($ret, $out) = $node->psql('app', "SELECT pages_fetched FROM shopify.sync_jobs WHERE id = $job");
	return $ret == 0 && $out ne '' ? $out : -1;
}

sub worker_errors
{
	my ($offset) = @_;
	my $log = slurp_file($node->logfile, $offset);
	my $n = () = $log =~ /shopify_sync worker.*(?:ERROR|failed: )/g;
	return $n;
}

sub order_sync
{
	my ($sid, $what) = @_;
	my $id = $node->safe_psql('app', "SELECT id FROM shopify_sync_orders($sid)");
	my $row = wait_job($node, $id, 60);
	is($row->{status}, 'completed', "$what: an order sync completes");
	is($node->safe_psql('app', "SELECT count(*) FROM shopify.orders WHERE shop_id = $sid AND is_active"),
		$standin->orders_stats($shop->{domain})->{order_count}, "$what: every order mirrored");
}

sub exact
{
	my ($sid, $what) = @_;
	my $d = mirror_diff($node, $standin, $shop->{domain}, $sid);
	is("$d->{missing}/$d->{extra}", '0/0', "$what: mirror exact ($d->{expected} variants)");
}

# the worker prepares (and keeps) its statements: they must survive the
# extension's objects being dropped and created again
order_sync($sid, 'before');

# ---- (a) DROP EXTENSION ... CASCADE in the middle of a sync
$standin->faults({ rate => 0, latency_ms => 100 });
my $job = enqueue_sync($node, $sid);
ok(wait_until(sub { pages($job) >= 3 }, 30), '(a) sync under way');
my $offset = -s $node->logfile;
my $t0 = time;
$node->safe_psql('app', 'DROP EXTENSION shopify_sync CASCADE');
note(sprintf('(a) DROP EXTENSION took %.2f s', time - $t0));
ok(wait_until(sub { log_contains($node, qr/extension shopify_sync is not installed in database "app"; waiting/, $offset) }, 30),
	'(a) the worker noticed and waits for the extension');
my $noticed = time - $t0;
my $errors = worker_errors($offset);
my $offset2 = -s $node->logfile;
sleep 4;
is(worker_pid($node), $worker, '(a) the same worker process (no crash)');
is(worker_errors($offset2), 0, '(a) no error from the worker while it waits (no error loop)');
cmp_ok($errors, '<=', 10, "(a) $errors errors logged by the worker before it noticed (" . sprintf('%.1f s', $noticed) . ')');
my $requests = $standin->stats->{shops}{ $shop->{domain} }{requests};
sleep 1;
is($standin->stats->{shops}{ $shop->{domain} }{requests}, $requests, '(a) no more requests to Shopify');

$node->safe_psql('app', 'CREATE EXTENSION shopify_sync');
$standin->faults({ rate => 0, latency_ms => 0 });
$sid = connect_shop($node, $shop);
my $row = run_sync($node, $sid, timeout => 60);
is($row->{status}, 'completed', '(a) after CREATE EXTENSION a new sync completes');
exact($sid, '(a)');
order_sync($sid, '(a)');
is(worker_pid($node), $worker, '(a) still the same worker');

# ---- (b) DROP DATABASE ... WITH (FORCE) in the middle of a sync
$standin->faults({ rate => 0, latency_ms => 100 });
$job = enqueue_sync($node, $sid);
ok(wait_until(sub { pages($job) >= 3 }, 30), '(b) sync under way');
$offset = -s $node->logfile;
$t0 = time;
$node->safe_psql('postgres', 'DROP DATABASE app WITH (FORCE)');
note(sprintf('(b) DROP DATABASE took %.2f s', time - $t0));
ok(wait_until(sub { worker_pid($node) == 0 }, 15), '(b) the worker left with its database');
ok(wait_until(sub { log_contains($node, qr/database "app" does not exist; waiting for it/, $offset) }, 15),
	'(b) the launcher waits for the database');
$node->safe_psql('postgres', 'CREATE DATABASE app');
ok(wait_for_worker($node, 30), '(b) a worker is back once the database exists');
$node->safe_psql('app', 'CREATE EXTENSION shopify_sync');
$standin->faults({ rate => 0, latency_ms => 0 });
$sid = connect_shop($node, $shop);
$row = run_sync($node, $sid, timeout => 60);
is($row->{status}, 'completed', '(b) a sync in the new database completes');
exact($sid, '(b)');
is(launcher_pid($node), $launcher, '(b) the same launcher throughout');
$worker = worker_pid($node);
note(sprintf('(b) from DROP DATABASE to a completed sync in the new database: %.1f s', time - $t0));

# ---- (c) shopify.sync_log on a full disk
my $fs = $ENV{SHOPIFY_TINY_FS};
my $real = defined $fs && -d $fs && -w $fs;
my $filler;
note($real ? "(c) sync_log on a tablespace in $fs, filled up for real"
	: '(c) SHOPIFY_TINY_FS not set: a trigger fails every INSERT into sync_log like a full disk (SQLSTATE 53100)');
$node->safe_psql('app', 'TRUNCATE shopify.sync_log');
if ($real)
{
	mkdir "$fs/ts" or die "mkdir $fs/ts: $!";
	$node->safe_psql('app', "CREATE TABLESPACE tiny LOCATION '$fs/ts'");
	$node->safe_psql('app', 'ALTER TABLE shopify.sync_log SET TABLESPACE tiny');
	# fill the file system up to the last byte
	$filler = "$fs/filler";
	open(my $fh, '>:raw', $filler) or die "$filler: $!";
	my $chunk = "\0" x 65536;
	my $written = 0;
	while (1)
	{
		my $n = syswrite($fh, $chunk);
		last unless defined $n && $n > 0;
		$written += $n;
	}
	while (1)
	{
		my $n = syswrite($fh, "\0" x 512);
		last unless defined $n && $n > 0;
		$written += $n;
	}
	close $fh;
	note(sprintf('(c) the file system is full (%.1f MB of filler)', $written / 1048576));
}
else
{
	$node->safe_psql('app', q{
		CREATE FUNCTION public.disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			RAISE EXCEPTION 'could not extend file "pg_tblspc/sync_log": No space left on device'
				USING ERRCODE = 'disk_full', HINT = 'Check free disk space.';
		END $$;
		CREATE TRIGGER disk_full BEFORE INSERT ON shopify.sync_log
			FOR EACH ROW EXECUTE FUNCTION public.disk_full()});
}
$offset = -s $node->logfile;
my $rows_before = $node->safe_psql('app', 'SELECT count(*) FROM shopify.sync_log');
$standin->mutate($shop->{domain}, { update => 30, delete => 5, create => 10, seed => 7 });
$row = run_sync($node, $sid, timeout => 60);
is($row->{status}, 'completed', '(c) a sync with the log on a full disk completes');
is($row->{variants_processed}, $row->{variants_created} + $row->{variants_updated} + $row->{variants_unchanged}
	  + $row->{variants_failed}, '(c) its counters add up');
exact($sid, '(c)');
my $warnings = () = slurp_file($node->logfile, $offset)
  =~ /WARNING:  shopify_sync: could not write to shopify\.sync_log: .*No space left on device/g;
cmp_ok($warnings, '>', 0, "(c) the failures to log are WARNINGs ($warnings of them)");
my $rows_full = $node->safe_psql('app', 'SELECT count(*) FROM shopify.sync_log') - $rows_before;
my $calls = $row->{api_calls};
cmp_ok($rows_full, '<', $real ? $calls : 1,
	"(c) $rows_full log rows got in while the disk was full ($calls API calls"
	  . ($real ? '; the last pages had room for a few' : '') . ')');
is(worker_pid($node), $worker, '(c) the worker did not die');

# space again
if ($real) { unlink $filler or die "unlink $filler: $!"; }
else { $node->safe_psql('app', 'DROP TRIGGER disk_full ON shopify.sync_log; DROP FUNCTION public.disk_full()'); }
$offset = -s $node->logfile;
$row = run_sync($node, $sid, timeout => 60);
is($row->{status}, 'completed', '(c) with space again, a sync completes');
my ($logged, $api_rows) = split /\|/, $node->safe_psql('app',
	"SELECT count(*) FILTER (WHERE details->>'operation' = 'completed'), count(*) FILTER (WHERE event = 'shopify_api_call')"
	  . " FROM shopify.sync_log WHERE sync_job_id = $row->{id}");
is($logged, 1, '(c) logging resumed: the sync\'s completion is in the log');
is($api_rows, $row->{api_calls}, "(c) and each of its $api_rows API calls");
ok(!log_contains($node, qr/could not write to shopify\.sync_log/, $offset), '(c) no more warnings');
if ($real)
{
	$node->safe_psql('app', 'ALTER TABLE shopify.sync_log SET TABLESPACE pg_default');
	$node->safe_psql('app', 'DROP TABLESPACE tiny');
}

# ---- no restart anywhere
my $log = slurp_file($node->logfile);
is((split /\n/, slurp_file($node->data_dir . '/postmaster.pid'))[0], $postmaster, 'the postmaster never restarted');
unlike($log, qr/TRAP:|PANIC:|terminated by signal|all server processes terminated; reinitializing/,
	'no crash, no crash restart');
note(sprintf('test time %.0f s', time - $t_start));

$node->stop;
$standin->stop;
done_testing();
