# Cancel and disconnect in the middle of a sync; several stores at once from
# one worker, bounded by max_concurrent_syncs; the worker is woken at commit.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use ShopifySyncNode;
use ShopifyStandin;

my @shops = map {
	ShopifyStandin::make_shop(domain => "multi$_.myshopify.com", products => 400 + 150 * $_, bucket => undef)
} 1 .. 5;
my $slow = ShopifyStandin::make_shop(domain => 'slow.myshopify.com', products => 1500, bucket => undef);
my $standin = ShopifyStandin->start(config => { shops => [ @shops, $slow ] },
	dir => PostgreSQL::Test::Utils::tempdir());
my $node = new_sync_node('cancel', api => 'rest', base_url => $standin->base_url, conf => <<'EOF');
shopify_sync.rest_page_size = 25
shopify_sync.max_concurrent_syncs = 3
EOF
my $ss = connect_shop($node, $slow);
my @ids = map { connect_shop($node, $_) } @shops;

sub pages
{
	my ($job_id) = @_;
	return $node->safe_psql('app', "SELECT pages_fetched FROM shopify.sync_jobs WHERE id = $job_id");
}

# ---- woken at commit: a sync starts within moments of the enqueue, not at the 10 s poll
my $t0 = time;
my $job = run_sync($node, $ids[0]);
my $latency = $node->safe_psql('app',
	"SELECT extract(epoch FROM started_at - created_at) FROM shopify.sync_jobs WHERE id = $job->{id}");
cmp_ok($latency, '<', 1.0, sprintf('the worker picked the job up %.3f s after the commit', $latency));

# ---- cancel in the middle: stops at the next checkpoint, keeps what it wrote
$standin->faults({ rate => 0, latency_ms => 150 });
my $jid = enqueue_sync($node, $ss);
ok(wait_until(sub { pages($jid) >= 5 }, 60), 'slow sync under way');
$node->safe_psql('app', "SELECT shopify_cancel_sync($jid)");
ok(wait_until(sub {
	$node->safe_psql('app', "SELECT status FROM shopify.sync_jobs WHERE id = $jid") eq 'cancelled' }, 10),
	'running job cancelled');
$job = job_row($node, $jid);
my $stopped_at = pages($jid);
# the stand-in's clock when the job was seen cancelled; a page requested
# before the cancel (the prefetch) may still be answered after it, so what
# counts is when each request arrived
my $cancel_seen = $standin->stats->{now};
sleep 2;
my @after = grep { $_->[6] > $cancel_seen } @{ $standin->shop_stats($slow->{domain})->{requests_log} };
is(scalar @after, 0, 'no request arrived after the cancel')
  or diag explain \@after;
is(pages($jid), $stopped_at, 'no page written after the cancel');
cmp_ok($job->{pages_fetched}, '<', 60, "stopped after $job->{pages_fetched} of 60 pages");
is($job->{variants_deactivated}, 0, 'a cancelled full sync deactivates nothing');
is($node->safe_psql('app', "SELECT count(*) FROM shopify.products WHERE shop_id = $ss AND is_active"),
	$job->{variants_processed}, 'rows written before the cancel are kept');
is($node->safe_psql('app', "SELECT count(*) FROM shopify.sync_seen WHERE job_id = $jid"), '0',
	'no seen set left behind');

# ---- disconnect in the middle: after it returns, not one more row
$jid = enqueue_sync($node, $ss);
ok(wait_until(sub { pages($jid) >= 5 }, 60), 'slow sync under way again');
my $res = sql_json($node, "SELECT shopify_disconnect($ss)");
is($res->{cleanup_results}{sync_jobs_cancelled}, 1, 'disconnect cancelled the running job');
my $active = $node->safe_psql('app', "SELECT count(*) FROM shopify.products WHERE shop_id = $ss AND is_active");
is($active, '0', 'all rows inactive at once');
my $snapshot = $node->safe_psql('app', "SELECT count(*) || '/' || coalesce(max(last_synced_at)::text, '') FROM shopify.products WHERE shop_id = $ss");
my $leaked = 0;
for (1 .. 25)
{
	$leaked++ if $node->safe_psql('app', "SELECT count(*) FROM shopify.products WHERE shop_id = $ss AND is_active") ne '0';
	usleep(100_000);
}
is($leaked, 0, 'no row became active again after the disconnect');
is($node->safe_psql('app', "SELECT count(*) || '/' || coalesce(max(last_synced_at)::text, '') FROM shopify.products WHERE shop_id = $ss"),
	$snapshot, 'no row was written after the disconnect');
is($node->safe_psql('app', "SELECT status FROM shopify.sync_jobs WHERE id = $jid"), 'cancelled', 'job stays cancelled');
$standin->faults({ rate => 0, latency_ms => 0 });

# ---- five stores at once, three at a time
$standin->faults({ rate => 0, latency_ms => 30 });
my @jobs = map { enqueue_sync($node, $_) } @ids;
my $max_running = 0;
my $deadline = time + 180;
while (time < $deadline)
{
	my ($running, $open) = split /\|/, $node->safe_psql('app',
		"SELECT count(*) FILTER (WHERE status = 'running'), count(*) FILTER (WHERE status IN ('pending', 'running'))"
		. " FROM shopify.sync_jobs WHERE id IN (" . join(',', @jobs) . ")");
	$max_running = $running if $running > $max_running;
	last if $open == 0;
	usleep(50_000);
}
$standin->faults({ rate => 0, latency_ms => 0 });
is($max_running, 3, 'three stores synced at once (max_concurrent_syncs = 3)');
for my $i (0 .. $#shops)
{
	my $j = job_row($node, $jobs[$i]);
	my $diff = mirror_diff($node, $standin, $shops[$i]{domain}, $ids[$i]);
	is("$j->{status} $diff->{missing}/$diff->{extra}", 'completed 0/0',
		"store $shops[$i]{domain}: completed, mirror exact ($diff->{expected} variants)");
}
my $overlap = $node->safe_psql('app', "SELECT count(*) FROM shopify.sync_jobs a JOIN shopify.sync_jobs b"
	. " ON a.id < b.id AND a.started_at < b.finished_at AND b.started_at < a.finished_at"
	. " WHERE a.id IN (" . join(',', @jobs) . ") AND b.id IN (" . join(',', @jobs) . ")");
cmp_ok($overlap, '>', 0, 'the syncs overlapped in time');

$node->stop;
$standin->stop;
done_testing();
