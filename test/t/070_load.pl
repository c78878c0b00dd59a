# Load: 50 stores syncing at once from the one worker, each against its own
# stand-in shop, token and rate-limit bucket (30 over REST with 8-10 request
# buckets leaking 2/s, 20 over GraphQL with their own cost buckets).  Every
# job completes, every mirror is exact, no store's rate limit is exceeded
# (no 429, no THROTTLED, no bucket overflow), the worker's memory stays
# flat (a second round of the same 50 syncs peaks no higher than the
# first), and the 50 take about as long as the slowest store alone, whose
# time its pacing sets.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use POSIX ();
use Time::HiRes qw(time usleep);
use ShopifySyncNode;
use ShopifyStandin;

my $NSTORES = 50;
my $NGRAPHQL = 20;
my $PRODUCTS = 300;
my $REST_PAGE = 15;				# 20 pages + shop + count = 22 REST calls a store
my $GQL_PAGE = 15;
my $GQL = { maximum => 1000, restore => 180 };

my (@load, @is_gql);
for my $i (1 .. $NSTORES)
{
	my $gql = $i <= $NGRAPHQL;
	my $shop = ShopifyStandin::make_shop(
		domain => sprintf('load%02d.myshopify.com', $i),
		products => $PRODUCTS, variants_min => 1, variants_max => 3,
		bucket => { size => 8 + $i % 3, leak => 2.0 },
		($gql ? (graphql => $GQL) : ()));
	push @load, $shop;
	push @is_gql, $gql;
}
# the same catalogs and limits, synced alone first (the smallest REST bucket)
my $solo_rest = ShopifyStandin::make_shop(domain => 'solo-rest.myshopify.com',
	products => $PRODUCTS, variants_min => 1, variants_max => 3, bucket => { size => 8, leak => 2.0 });
my $solo_gql = ShopifyStandin::make_shop(domain => 'solo-gql.myshopify.com',
	products => $PRODUCTS, variants_min => 1, variants_max => 3, bucket => { size => 8, leak => 2.0 },
	graphql => $GQL);

my $standin = ShopifyStandin->start(config => { shops => [ @load, $solo_rest, $solo_gql ] },
	dir => PostgreSQL::Test::Utils::tempdir(), timeout => 60);
my $node = new_sync_node('load', api => 'rest', base_url => $standin->base_url, conf => <<"EOF");
shopify_sync.max_concurrent_syncs = 64
shopify_sync.rest_page_size = $REST_PAGE
shopify_sync.rest_leak_rate = 2
shopify_sync.graphql_page_size = $GQL_PAGE
shopify_sync.graphql_variants_per_product = 3
shopify_sync.bulk_threshold = -1
EOF

# Connect many shops in one psql call (tokens travel as psql variables).
sub connect_all
{
	my @shops = @_;
	my $sql = join(";\n", map { "SELECT shopify_connect_store('$shops[$_]{domain}', :'tok$_')" } 0 .. $#shops);
	my @vars = map { ('-v', "tok$_=$shops[$_]{token}") } 0 .. $#shops;
	return split /\n/, $node->safe_psql('app', $sql, extra_params => \@vars);
}

my ($sid_solo_rest, $sid_solo_gql) = connect_all($solo_rest, $solo_gql);
my @sids = connect_all(@load);
is(scalar(@sids), $NSTORES, "$NSTORES stores connected");
$node->safe_psql('app', join(";\n",
	"SELECT shopify_set_store_api($sid_solo_gql, 'graphql')",
	map { "SELECT shopify_set_store_api($sids[$_], 'graphql')" } grep { $is_gql[$_] } 0 .. $#sids));

my $worker = worker_pid($node);
ok($worker > 0, "worker running (pid $worker)");

my $peakfile = $node->basedir . '/rss_peak';
my $rss_idle = 0;
if (open(my $fh, '<', "/proc/$worker/status"))
{
	while (<$fh>) { $rss_idle = $1 if /^RssAnon:\s+(\d+)/; }
	close $fh;
}

# ---- each kind of store alone: its time is what its pacing requires
my %solo;
for my $s ([ 'REST', $solo_rest, $sid_solo_rest, 'rest' ], [ 'GraphQL', $solo_gql, $sid_solo_gql, 'graphql' ])
{
	my ($what, $shop, $sid, $api) = @$s;
	$standin->reset_stats;
	my $sampler = start_rss_sampler($worker, $peakfile);
	my $job = run_sync($node, $sid, timeout => 120);
	my ($peak, $samples) = stop_rss_sampler($sampler, $peakfile);
	is($job->{status}, 'completed', "$what store alone: completed") or diag explain $job;
	my $diff = mirror_diff($node, $standin, $shop->{domain}, $sid, $api);
	is($diff->{missing} + $diff->{extra}, 0, "$what store alone: mirror exact ($diff->{expected} variants)");
	my $st = $standin->shop_stats($shop->{domain});
	my $took = $node->safe_psql('app',
		"SELECT round(extract(epoch FROM finished_at - created_at)::numeric, 2) FROM shopify.sync_jobs WHERE id = $job->{id}");
	$solo{$what} = { took => $took, peak => $peak, calls => $job->{api_calls}, samples => $samples,
		variants => $diff->{expected} };
	note(sprintf('%s store alone: %d variants, %d API calls in %.2f s; worker peak RssAnon %d kB (%d samples)',
		$what, $diff->{expected}, $job->{api_calls}, $took, $peak, $samples));
	if ($api eq 'rest')
	{
		my $bound = ($st->{requests} - (8 - 1)) / 2.0;
		note(sprintf('  the 8-request bucket leaking 2/s allows %d requests in %.2f s at best', $st->{requests}, $bound));
		cmp_ok($took, '>=', $bound * 0.9, 'REST store alone: paced by its bucket');
	}
	else
	{
		is($st->{throttled_graphql}, 0, 'GraphQL store alone: never THROTTLED');
	}
}
# The worker's memory contexts at this moment, as pg_log_backend_memory_contexts
# writes them to the server log: the bytes in use of its whole context tree.
sub contexts_used
{
	my $off = -s $node->logfile;
	$node->safe_psql('app', "SELECT pg_log_backend_memory_contexts($worker)");
	my $used;
	wait_until(sub {
		($used) = slurp_file($node->logfile, $off) =~ /Grand total: \d+ bytes in \d+ blocks; \d+ free \(\d+ chunks\); (\d+) used/;
		return defined $used;
	}, 30);
	return $used // -1;
}

my $solo_peak = $solo{REST}{peak} > $solo{GraphQL}{peak} ? $solo{REST}{peak} : $solo{GraphQL}{peak};
my $slowest = $solo{REST}{took} > $solo{GraphQL}{took} ? $solo{REST}{took} : $solo{GraphQL}{took};

# ---- 50 stores at once
$standin->reset_stats;
my $sampler = start_rss_sampler($worker, $peakfile);
my $t0 = time;
my @jobs = split /\n/, $node->safe_psql('app',
	'SELECT (shopify_sync_products(s)).id FROM unnest(ARRAY[' . join(',', @sids) . ']) s');
is(scalar(@jobs), $NSTORES, "$NSTORES jobs enqueued in one transaction");
my $idlist = join(',', @jobs);
my $max_running = 0;
my $all_done = wait_until(sub {
	my ($running, $open) = split /\|/, $node->safe_psql('app',
		"SELECT count(*) FILTER (WHERE status = 'running'), count(*) FILTER (WHERE status IN ('pending', 'running'))"
		. " FROM shopify.sync_jobs WHERE id IN ($idlist)");
	$max_running = $running if $running > $max_running;
	return $open == 0;
}, 120);
my $elapsed = time - $t0;
my ($peak50, $samples50) = stop_rss_sampler($sampler, $peakfile);
ok($all_done, sprintf('all %d jobs finished (%.1f s)', $NSTORES, $elapsed));
is($max_running, $NSTORES, "all $NSTORES ran at once");

my $summary = $node->safe_psql('app',
	"SELECT count(*) FILTER (WHERE status = 'completed') || '|' || sum(variants_processed) || '|'"
	. " || sum(api_calls) || '|' || sum(api_retries) || '|' || sum(rate_limited) || '|'"
	. " || count(*) FILTER (WHERE variants_processed <> variants_created + variants_updated + variants_unchanged + variants_failed)"
	. " || '|' || round(extract(epoch FROM max(finished_at) - min(created_at))::numeric, 2)"
	. " || '|' || round(max(extract(epoch FROM finished_at - created_at))::numeric, 2)"
	. " FROM shopify.sync_jobs WHERE id IN ($idlist)");
my ($completed, $variants, $calls, $retries, $limited, $bad_counters, $wall, $longest) = split /\|/, $summary;
is($completed, $NSTORES, "all $NSTORES jobs completed");
is($bad_counters, 0, 'every job\'s counters add up');
is($retries, 0, 'no retries');
is($limited, 0, 'no job met a rate limit (job counters)');

my $exact = 0;
my @inexact;
my $diffs = mirror_diff_many($node, $standin,
	[ map { [ $load[$_]{domain}, $sids[$_], $is_gql[$_] ? 'graphql' : 'rest' ] } 0 .. $#load ]);
for my $i (0 .. $#load)
{
	my $diff = $diffs->{ $sids[$i] };
	if ($diff->{missing} + $diff->{extra} == 0 && $diff->{expected} > 0) { $exact++; }
	else { push @inexact, "$load[$i]{domain}: " . join('', explain($diff)); }
}
is($exact, $NSTORES, "every mirror exact ($exact of $NSTORES)") or diag(join("\n", @inexact));

my $stats = $standin->stats->{shops};
my ($r429, $thr, $over, $max_ratio, $worst) = (0, 0, 0, 0, '');
for my $i (0 .. $#load)
{
	my $st = $stats->{ $load[$i]{domain} };
	$r429 += $st->{throttled_429};
	$thr += $st->{throttled_graphql};
	my $size = $load[$i]{bucket}{size};
	$over++ if $st->{bucket_overflows} > 0 || $st->{max_bucket_used} > $size;
	if (!$is_gql[$i] && $st->{max_bucket_used} / $size > $max_ratio)
	{
		$max_ratio = $st->{max_bucket_used} / $size;
		$worst = "$st->{max_bucket_used}/$size";
	}
}
is($r429, 0, 'no store got a 429 (stand-in, per shop)');
is($thr, 0, 'no GraphQL store was THROTTLED (stand-in, per shop)');
is($over, 0, "no store's bucket overflowed (fullest REST bucket: $worst)");

is(worker_pid($node), $worker, 'one worker did it all (same pid)');
my $ratio = $solo_peak > 0 ? $peak50 / $solo_peak : 0;
cmp_ok($peak50, '>', 0, 'memory was sampled during the run');
cmp_ok($wall, '<', $slowest * 3 + 5, sprintf('the %d stores took %.2f s, the slowest store alone %.2f s', $NSTORES, $wall, $slowest));

# ---- the same work again: the worker's memory does not grow with the work
# it has done.  Exactly: its memory contexts in use, idle after each round
# (what a leak into a long-lived context would show).  Roughly: the peak
# RssAnon of each round, which depends on how many answers are in flight at
# the same moment (17.5 to 21.3 MB for the same round in eight runs).
my $ctx1 = contexts_used();
$node->safe_psql('app', 'DELETE FROM shopify.products WHERE shop_id IN (' . join(',', @sids) . ')');
$sampler = start_rss_sampler($worker, $peakfile);
my $idlist2 = join(',', split /\n/, $node->safe_psql('app',
	'SELECT (shopify_sync_products(s)).id FROM unnest(ARRAY[' . join(',', @sids) . ']) s'));
ok(wait_until(sub {
	$node->safe_psql('app', "SELECT count(*) FROM shopify.sync_jobs WHERE id IN ($idlist2) AND status IN ('pending', 'running')") eq '0' }, 120),
	'a second round of the same 50 syncs finished');
my ($peak50b, $samples50b) = stop_rss_sampler($sampler, $peakfile);
is($node->safe_psql('app', "SELECT count(*) FROM shopify.sync_jobs WHERE id IN ($idlist2) AND status = 'completed'"),
	$NSTORES, 'all completed again');
sleep 1;	# the worker notes the last jobs' ends
my $ctx2 = contexts_used();
cmp_ok($ctx1, '>', 0, "the worker's memory contexts were logged ($ctx1 bytes in use after the first round)");
cmp_ok($ctx2, '<=', $ctx1 + 64 * 1024,
	sprintf('worker memory contexts flat: %d bytes in use after the second round vs %d after the first', $ctx2, $ctx1));
cmp_ok($peak50b, '<=', $peak50 * 1.25 + 1024,
	sprintf('worker peak memory flat: peak RssAnon %d kB in the second round vs %d kB in the first', $peak50b, $peak50));
is(worker_pid($node), $worker, 'still the same worker');

note('---- figures');
note(sprintf('catalog per store: %d products, 1-3 variants; REST pages of %d products, GraphQL pages of %d (cost bucket %d points, restoring %d/s)',
	$PRODUCTS, $REST_PAGE, $GQL_PAGE, $GQL->{maximum}, $GQL->{restore}));
note(sprintf('one REST store alone:    %.2f s, %d API calls, %d variants', $solo{REST}{took}, $solo{REST}{calls}, $solo{REST}{variants}));
note(sprintf('one GraphQL store alone: %.2f s, %d API calls, %d variants', $solo{GraphQL}{took}, $solo{GraphQL}{calls}, $solo{GraphQL}{variants}));
note(sprintf('%d stores at once (%d REST, %d GraphQL): %.2f s wall time (slowest job %.2f s), %d variants, %d API calls, %.0f variants/s',
	$NSTORES, $NSTORES - $NGRAPHQL, $NGRAPHQL, $wall, $longest, $variants, $calls, $wall > 0 ? $variants / $wall : 0));
note(sprintf('wall time / slowest store alone: %.2fx', $slowest > 0 ? $wall / $slowest : 0));
note(sprintf('429s: %d, THROTTLED: %d, bucket overflows: %d, fullest REST bucket %s', $r429, $thr, $over, $worst));
note(sprintf('worker RssAnon: idle %d kB; peak with one store %d kB; peak with %d stores %d kB (%.2fx, %d samples); second round %d kB',
	$rss_idle, $solo_peak, $NSTORES, $peak50, $ratio, $samples50, $peak50b));
note(sprintf('worker memory contexts in use, idle: %d bytes after the first round, %d after the second', $ctx1, $ctx2));

unlike(slurp_file($node->logfile), qr/TRAP:|terminated by signal/, 'no crash');
$node->stop;
$standin->stop;
done_testing();
