# Scheduling with pg_cron (Debian's postgresql-15-cron, 1.4: no seconds
# schedules): jobs scheduled @reboot fire at the next start; three
# schedules firing at once for the same store (full, again full, and
# incremental) start exactly one sync, which completes and mirrors the
# store; the cron runs all succeed, and the sync shows who asked for it.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ShopifySyncNode;
use ShopifyStandin;

my $shop = ShopifyStandin::make_shop(domain => 'cron-shop.myshopify.com', products => 300, bucket => undef);
$shop->{graphql} = undef;
my $standin = ShopifyStandin->start(config => { shops => [$shop] },
	dir => PostgreSQL::Test::Utils::tempdir());
my $node = new_sync_node('cron', api => 'rest', base_url => $standin->base_url, conf => <<'EOF');
shared_preload_libraries = 'pg_cron,shopify_sync'
cron.database_name = 'app'
cron.use_background_workers = on
EOF
$node->safe_psql('app', 'CREATE EXTENSION pg_cron');
# pg_cron's launcher retries until the database exists; let it settle first,
# so that the @reboot schedules below fire at the restart, not now
ok(wait_until(sub { log_contains($node, qr/pg_cron scheduler started/) }, 30), 'pg_cron scheduler running');
my $sid = connect_shop($node, $shop);

# every request takes a while, so that the three runs overlap the sync
$standin->faults({ rate => 0, latency_ms => 100 });
$node->safe_psql('app', qq{
	SELECT cron.schedule('shopify-full', '\@reboot', 'SELECT shopify_sync_products($sid)');
	SELECT cron.schedule('shopify-full-again', '\@reboot', 'SELECT shopify_sync_products($sid)');
	SELECT cron.schedule('shopify-incremental', '\@reboot', 'SELECT shopify_sync_products($sid, full_sync => false)');
	-- the documented hourly / five-minute pair is accepted as written in the README
	SELECT cron.schedule('shopify-hourly', '0 * * * *', 'SELECT shopify_sync_products($sid)');
	SELECT cron.schedule('shopify-5min', '*/5 * * * *', 'SELECT shopify_sync_products($sid, full_sync => false)');
});
is($node->safe_psql('app', 'SELECT count(*) FROM cron.job'), '5', 'five schedules');
is($node->safe_psql('app', "SELECT count(*) FROM shopify.sync_jobs WHERE shop_id = $sid"), '0', 'no sync yet');

$node->restart;
ok(wait_for_worker($node, 30), 'restarted');
ok(wait_until(sub {
	$node->safe_psql('app', "SELECT count(*) FROM cron.job_run_details WHERE status = 'succeeded'") eq '3' }, 60),
	'the three @reboot runs succeeded');
is($node->safe_psql('app', "SELECT count(*) FROM shopify.sync_jobs WHERE shop_id = $sid"), '1',
	'overlapping schedules started exactly one sync');
my $job_id = $node->safe_psql('app', "SELECT id FROM shopify.sync_jobs WHERE shop_id = $sid");
my $job = wait_job($node, $job_id, 120);
is($job->{status}, 'completed', 'the scheduled sync completed') or diag explain $job;
# the three runs race; whichever committed first chose the kind of sync
my $asked = $node->safe_psql('app',
	"SELECT details->>'sync_type' FROM shopify.sync_log WHERE details->>'operation' = 'enqueued' AND shop_id = $sid");
like($job->{sync_type}, qr/^(full_sync|incremental_sync)$/, "the sync is one the schedules asked for ($job->{sync_type})");
is($job->{sync_type}, $asked, 'as the run that enqueued it asked');
my $diff = mirror_diff($node, $standin, $shop->{domain}, $sid, 'rest');
is($diff->{missing} + $diff->{extra}, 0, "mirror exact ($diff->{expected} variants)");
is($node->safe_psql('app', "SELECT count(*) FROM shopify.sync_log WHERE details->>'operation' = 'enqueued' AND shop_id = $sid"),
	'1', 'one enqueue logged; the other runs returned the active job');
is($node->safe_psql('app', "SELECT string_agg(DISTINCT return_message, ',') FROM cron.job_run_details"), 'SELECT 1',
	'each cron run got the job row back');

# after it finished, the next scheduled run starts a new sync
$standin->faults({ rate => 0, latency_ms => 0 });
$node->safe_psql('app', q{SELECT cron.unschedule('shopify-full-again'); SELECT cron.unschedule('shopify-full')});
$node->restart;
ok(wait_until(sub {
	$node->safe_psql('app', "SELECT count(*) FROM shopify.sync_jobs WHERE shop_id = $sid") eq '2' }, 60),
	'the next boot\'s incremental schedule started a second sync');
$job = wait_job($node, $node->safe_psql('app', "SELECT max(id) FROM shopify.sync_jobs WHERE shop_id = $sid"), 120);
is($job->{status}, 'completed', 'and it completed');
is($job->{sync_type}, 'incremental_sync', 'as an incremental sync');

$node->stop;
$standin->stop;
done_testing();
