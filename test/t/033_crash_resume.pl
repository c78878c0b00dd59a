# Crash safety: kill -9 of the worker and an immediate server stop in the
# middle of a sync end in an exact mirror, resumed from the saved cursor with
# no duplicate work beyond the interrupted page; a job whose lease expired is
# recovered; nothing stays "running".
# (The next page is fetched while the current one is written, so a crash can
# cost two page fetches: the page being written and the one requested.)
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use ShopifySyncNode;
use ShopifyStandin;

my $shop = ShopifyStandin::make_shop(domain => 'crashy.myshopify.com', products => 1500, bucket => undef);
my $standin = ShopifyStandin->start(config => { shops => [$shop] },
	dir => PostgreSQL::Test::Utils::tempdir());
my $node = new_sync_node('crash', api => 'rest', base_url => $standin->base_url, conf => <<'EOF');
restart_after_crash = on
shopify_sync.rest_page_size = 25
shopify_sync.lease_time = '6s'
EOF
my $sid = connect_shop($node, $shop);

sub wait_pages
{
	my ($job_id, $n) = @_;
	return wait_until(sub {
		$node->safe_psql('app', "SELECT pages_fetched FROM shopify.sync_jobs WHERE id = $job_id") >= $n
	}, 60);
}

# Page requests per query string: how many pages were fetched more than once.
sub duplicate_pages
{
	my %seen;
	for my $r (@{ $standin->shop_stats($shop->{domain})->{requests_log} })
	{
		my ($t, $method, $path, $query, $status) = @$r;
		next unless $path =~ m{/products\.json$} && $status == 200;
		$seen{$query}++;
	}
	my $dups = grep { $_ > 1 } values %seen;
	return ($dups, scalar(keys %seen));
}

sub check_resumed
{
	my ($what, $job_id, $pages_before) = @_;
	my $job = wait_job($node, $job_id, 120);
	is($job->{status}, 'completed', "$what: the job completed");
	is($job->{attempts}, 2, "$what: resumed once (attempts = 2)");
	my $diff = mirror_diff($node, $standin, $shop->{domain}, $sid);
	is($diff->{missing} + $diff->{extra}, 0, "$what: mirror exact ($diff->{expected} variants)");
	my ($dups, $pages) = duplicate_pages();
	# the page being written and the next one, already requested, were in flight
	cmp_ok($dups, '<=', 2, "$what: $dups of $pages pages fetched twice (at most the two in flight)");
	is($job->{pages_fetched}, $pages, "$what: every page written once");
	my $resumed = $node->safe_psql('app',
		"SELECT count(*) FROM shopify.sync_log WHERE sync_job_id = $job_id AND details->>'operation' IN ('recovered', 'resumed')");
	is($resumed, '2', "$what: recovery and resumption logged");
	is($node->safe_psql('app', "SELECT count(*) FROM shopify.sync_jobs WHERE status = 'running'"), '0',
		"$what: no job left running");
	return $job;
}

# ---- kill -9 of the worker in the middle of a sync
$standin->faults({ rate => 0, latency_ms => 60 });
$standin->reset_stats;
my $job_id = enqueue_sync($node, $sid);
ok(wait_pages($job_id, 15), 'sync under way');
my $pid = worker_pid($node);
kill 'KILL', $pid;
ok(wait_for_worker_change($node, $pid, 60), 'server recovered and a new worker started');
check_resumed('kill -9', $job_id);

# ---- immediate shutdown in the middle of a sync, then start
$node->safe_psql('app', "UPDATE shopify.products SET title = 'stale' WHERE shop_id = $sid");
$standin->reset_stats;
$job_id = enqueue_sync($node, $sid);
ok(wait_pages($job_id, 20), 'second sync under way');
$node->stop('immediate');
$node->start;
wait_for_worker($node, 30);
my $job = check_resumed('immediate restart', $job_id);
cmp_ok($job->{variants_updated}, '>', 0, 'the rows made stale were rewritten');

# ---- a job whose lease expired (its worker vanished) is recovered
$standin->faults({ rate => 0, latency_ms => 0 });
$node->safe_psql('app', "ALTER SYSTEM SET shopify_sync.max_concurrent_syncs = 1");
$node->reload;
my $orphan = $node->safe_psql('app', qq{
  INSERT INTO shopify.sync_jobs (shop_id, sync_type, full_sync, status, attempts, started_at,
                                 heartbeat_at, lease_expires_at, worker_pid)
  VALUES ($sid, 'full_sync', true, 'running', 1, now(), now(), now() + interval '3 seconds', 999999)
  RETURNING id});
$job = wait_job($node, $orphan, 60);
is($job->{status}, 'completed', 'a running job whose lease expired was recovered and completed');
is($node->safe_psql('app', "SELECT details->>'reason' FROM shopify.sync_log WHERE sync_job_id = $orphan AND details->>'operation' = 'recovered'"),
	'lease expired', 'recovered because its lease expired');

unlike(slurp_file($node->logfile), qr/TRAP:/, 'no assertion failure');
$node->stop;
$standin->stop;
done_testing();
