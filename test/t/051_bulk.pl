# Bulk operations: a 100,000-variant catalog mirrors exactly in constant
# memory; a truncated result is caught by the objectCount check; failed,
# expired and cancelled operations and a busy shop are handled; a crash in
# the middle of the download ends in an exact mirror; the
# bulk_operations/finish webhook makes the sync poll at once.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use Digest::SHA qw(hmac_sha256_base64);
use ShopifySyncNode;
use ShopifyStandin;

my $secret = 'bulk-test-secret';
my $s = ShopifyStandin::make_shop(domain => 'bulk-small.myshopify.com', products => 2200,
	big_products => [300], bucket => undef);
my $l = ShopifyStandin::make_shop(domain => 'bulk-large.myshopify.com', products => 22000,
	variants_min => 1, variants_max => 8, awkward => 0, bucket => undef);
$_->{graphql} = { maximum => 20000, restore => 10000 } for ($s, $l);
my $standin = ShopifyStandin->start(config => { shops => [ $s, $l ] },
	dir => PostgreSQL::Test::Utils::tempdir(), timeout => 60);
my $node = new_sync_node('bulk', base_url => $standin->base_url, conf => <<"EOF");
restart_after_crash = on
shopify_sync.bulk_threshold = 0
shopify_sync.webhook_secret = '$secret'
EOF
my $ss = connect_shop($node, $s);
my $sl = connect_shop($node, $l);

# Run a sync while sampling the worker's private memory; returns (job, peak kB).
sub sync_with_memory
{
	my ($sid) = @_;
	my $file = $node->basedir . '/rss_peak';
	my $sampler = start_rss_sampler(worker_pid($node), $file);
	my $id = enqueue_sync($node, $sid);
	my $job = wait_job($node, $id, 300);
	my ($peak) = stop_rss_sampler($sampler, $file);
	return ($job, $peak);
}

# ---- a bulk sync mirrors exactly
my ($job, $peak_small) = sync_with_memory($ss);
is($job->{status}, 'completed', 'bulk sync completed') or diag explain $job;
is($job->{api}, 'bulk', 'it ran as a bulk operation');
like($job->{bulk_operation_id}, qr{^gid://shopify/BulkOperation/\d+$}, 'the operation is recorded on the job');
my $diff = mirror_diff($node, $standin, $s->{domain}, $ss, 'graphql');
is($diff->{missing} + $diff->{extra}, 0, "mirror exact ($diff->{expected} variants, one product with 300)");
my $ops = $standin->bulk_info($s->{domain})->{operations};
is($job->{bulk_objects_expected}, $ops->[-1]{objectCount}, 'objectCount recorded');
is($job->{variants_processed} + $job->{products_fetched}, $ops->[-1]{objectCount},
	'every line of the result was written: variants + products = objectCount');

# ---- 100,000 variants in constant memory
my $t0 = time;
my ($jl, $peak_large) = sync_with_memory($sl);
my $secs = time - $t0;
is($jl->{status}, 'completed', 'bulk sync of the large catalog completed');
$diff = mirror_diff($node, $standin, $l->{domain}, $sl, 'graphql');
cmp_ok($diff->{expected}, '>=', 95000, "large catalog: $diff->{expected} variants");
is($diff->{missing} + $diff->{extra}, 0, 'mirror exact');
note(sprintf('large bulk sync: %d variants in %.1f s; worker peak RssAnon %d kB (small catalog: %d kB)',
	$diff->{expected}, $secs, $peak_large, $peak_small));
cmp_ok($peak_large, '<', $peak_small * 1.5 + 2048,
	"memory does not grow with the file (peak $peak_large kB vs $peak_small kB for a tenth of it)");

# ---- a silently truncated result is caught
my $inactive_before = $node->safe_psql('app', "SELECT count(*) FROM shopify.products WHERE shop_id = $ss AND NOT is_active");
$standin->set_bulk($s->{domain}, { truncate_lines => 25 });
$job = run_sync($node, $ss);
is($job->{status}, 'failed', 'a result with fewer lines than objectCount fails the job');
is($job->{error_class}, 'payload', 'error class payload');
like($job->{error}, qr/objectCount/, 'the error names the objectCount mismatch');
is($node->safe_psql('app', "SELECT count(*) FROM shopify.products WHERE shop_id = $ss AND NOT is_active"),
	$inactive_before, 'nothing was marked deleted');
$standin->set_bulk($s->{domain}, { reset => JSON::PP::true });

# ---- failed, expired and cancelled operations
for my $case ([ { fail => 'INTERNAL_SERVER_ERROR' }, qr/failed with error code INTERNAL_SERVER_ERROR/ ],
	[ { expire => JSON::PP::true }, qr/expired/ ],
	[ { cancel_after_s => 0.5 }, qr/cancelled/ ])
{
	$standin->set_bulk($s->{domain}, { reset => JSON::PP::true, %{ $case->[0] } });
	$job = run_sync($node, $ss);
	is($job->{status} . ' ' . $job->{error_class}, 'failed bulk', 'operation ' . join(',', keys %{ $case->[0] }) . ': job failed');
	like($job->{error}, $case->[1], 'with a clear error');
}
$standin->set_bulk($s->{domain}, { reset => JSON::PP::true });

# ---- a shop whose bulk operation places are all taken: waited for (from API version
# 2026-01 on a shop runs 5 bulk query operations at once: another app runs 5 here)
$standin->set_bulk($s->{domain}, { busy_s => 6, busy_ops => 5 });
$t0 = time;
$job = run_sync($node, $ss);
is($job->{status}, 'completed', 'the sync completed after the other operation finished');
cmp_ok(time - $t0, '>=', 5, 'it waited for it');
is($node->safe_psql('app', "SELECT count(*) FROM shopify.sync_log WHERE sync_job_id = $job->{id} AND details->>'operation' = 'bulk_waiting'"),
	'1', 'the wait is logged once');

# ---- kill -9 in the middle of the download
$standin->set_bulk($l->{domain}, { download_bytes_per_s => 4_000_000 });
my $jid = enqueue_sync($node, $sl);
ok(wait_until(sub {
	$node->safe_psql('app', "SELECT products_fetched FROM shopify.sync_jobs WHERE id = $jid") > 1000 }, 120),
	'download under way');
my $pid = worker_pid($node);
kill 'KILL', $pid;
ok(wait_for_worker_change($node, $pid, 60), 'server recovered, new worker');
$standin->set_bulk($l->{domain}, { download_bytes_per_s => undef });
$job = wait_job($node, $jid, 300);
is($job->{status}, 'completed', 'the interrupted bulk sync completed');
is($job->{attempts}, 2, 'resumed once');
$diff = mirror_diff($node, $standin, $l->{domain}, $sl, 'graphql');
is($diff->{missing} + $diff->{extra}, 0, 'mirror exact after the crash');
$ops = $standin->bulk_info($l->{domain})->{operations};
is(scalar(grep { $_->{id} eq $job->{bulk_operation_id} } @$ops), 1, 'the same operation was polled again, not a new one');
is($job->{variants_processed} + $job->{products_fetched}, $ops->[-1]{objectCount},
	'counts start afresh with the new download');

# ---- bulk_operations/finish: the waiting sync polls at once
$standin->set_bulk($s->{domain}, { delay_s => 12 });
$jid = enqueue_sync($node, $ss);
# this job's own operation (the shop's earlier ones are completed too)
my $bulk_gid;
ok(wait_until(sub {
	$bulk_gid = $node->safe_psql('app', "SELECT bulk_operation_id FROM shopify.sync_jobs WHERE id = $jid");
	$bulk_gid ne '' }, 30), 'the sync started its bulk operation');
ok(wait_until(sub {
	grep { $_->{id} eq $bulk_gid && $_->{status} eq 'COMPLETED' }
	  @{ $standin->bulk_info($s->{domain})->{operations} } }, 30), 'operation completed in the stand-in');
my $body = qq({"admin_graphql_api_id":"$bulk_gid","completed_at":"2026-11-24T00:00:00Z","created_at":"2026-11-24T00:00:00Z","error_code":null,"status":"completed","type":"query"});
my $sig = hmac_sha256_base64($body, $secret);
$sig .= '=' while length($sig) % 4;
my $hook_at = $standin->stats->{now};	# the stand-in's clock
my $ev = $node->safe_psql('app', "SELECT shopify_receive_webhook('bulk_operations/finish', '$s->{domain}', '$sig', \$b\$$body\$b\$, 'bulk-finish-1')");
$job = wait_job($node, $jid, 60);
is($job->{status}, 'completed', 'the sync completed');
like($node->safe_psql('app', "SELECT note FROM shopify.webhook_events WHERE id = $ev"), qr/polls at once/,
	'the webhook reached the waiting sync');
# when the next status poll arrived, not when the download was written
# (which depends on the machine)
my @polls = grep { $_->[3] eq 'ShopifySyncBulkStatus' && $_->[6] > $hook_at }
  @{ $standin->shop_stats($s->{domain})->{requests_log} };
my $delay = @polls ? $polls[0][6] - $hook_at : -1;
ok(@polls && $delay < 1.5,
	sprintf('the next status poll arrived %.2f s after the webhook (polls were 4-7 s apart by then)', $delay));
$standin->set_bulk($s->{domain}, { reset => JSON::PP::true });

unlike(slurp_file($node->logfile), qr/TRAP:/, 'no assertion failure');
$node->stop;
$standin->stop;
done_testing();
