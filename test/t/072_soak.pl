# Soak: for SOAK_SECONDS (default 120) the stand-in injects every kind of
# fault at once (500 502 503 504 reset truncated nonjson 429 slow hang) into
# a good share of all answers, GraphQL cost buckets are drained now and then
# (THROTTLED answers), while syncs of four stores are enqueued over and over
# (REST, GraphQL pages, GraphQL bulk operations, orders; full and
# incremental), the stand-in's catalogs and orders change, and order
# webhooks arrive (each delivered twice, as Shopify retries).  The worker
# never dies, every job ends completed or failed with an error class and a
# message, nothing is written twice (a job's progress rows equal its pages,
# one start and one end per job, one event per webhook id, each event
# applied once), and once the faults stop one clean sync per store makes
# every mirror exact.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use Digest::SHA qw(hmac_sha256_base64);
use HTTP::Tiny;
use JSON::PP;
use ShopifySyncNode;
use ShopifyStandin;

my $SOAK = $ENV{SOAK_SECONDS} // 120;
my $RATE = $ENV{SOAK_FAULT_RATE} // 0.2;
my $seed = $ENV{SOAK_SEED} // (time() ^ $$) % 1_000_000;
srand($seed);
note("soak of $SOAK s, fault rate $RATE, seed $seed (SOAK_SEED=$seed repeats the choices)");
my $t_start = time;

my $secret = 'soak-secret-' . int(rand(1e9));
my %shops = (
	rest => ShopifyStandin::make_shop(domain => 'soak-rest.myshopify.com', products => 1200,
		variants_min => 1, variants_max => 4, bucket => { size => 40, leak => 10.0 },
		orders => { count => 800, seed => 21 }),
	# some products with more variants than a page carries (follow-up queries)
	gql => ShopifyStandin::make_shop(domain => 'soak-gql.myshopify.com', products => 500,
		variants_min => 1, variants_max => 11, bucket => { size => 40, leak => 10.0 },
		graphql => { maximum => 20000, restore => 10000 }, orders => { count => 600, seed => 22 }),
	bulk => ShopifyStandin::make_shop(domain => 'soak-bulk.myshopify.com', products => 1500,
		variants_min => 1, variants_max => 4, bucket => { size => 40, leak => 10.0 },
		graphql => { maximum => 4000, restore => 1000 }),
	rest2 => ShopifyStandin::make_shop(domain => 'soak-rest2.myshopify.com', products => 600,
		variants_min => 1, variants_max => 4, bucket => { size => 40, leak => 10.0 }),
);
my %api = (rest => 'rest', gql => 'graphql', bulk => 'graphql', rest2 => 'rest');
my @names = sort keys %shops;
my $standin = ShopifyStandin->start(config => { shops => [ map { $shops{$_} } @names ] },
	dir => PostgreSQL::Test::Utils::tempdir());
$standin->set_bulk($shops{bulk}{domain}, { delay_s => 0.6 });
my $node = new_sync_node('soak', api => 'rest', base_url => $standin->base_url, conf => <<"EOF");
shopify_sync.rest_page_size = 50
shopify_sync.rest_leak_rate = 10
shopify_sync.bulk_threshold = 1000
shopify_sync.http_timeout = '2s'
shopify_sync.max_retries = 2
shopify_sync.webhook_secret = '$secret'
shopify_sync.webhook_rate_limit = 0
EOF
my %sid;
$sid{$_} = connect_shop($node, $shops{$_}) for @names;
$node->safe_psql('app', "SELECT shopify_set_store_api($sid{$_}, 'graphql')") for qw(gql bulk);
my $worker = worker_pid($node);
my $json = JSON::PP->new->utf8->canonical;

sub sign
{
	my $s = hmac_sha256_base64($_[0], $secret);
	$s .= '=' while length($s) % 4;
	return $s;
}

# ---- the soak
$standin->reset_stats;
$standin->faults({ rate => $RATE, seed => $seed, hang_seconds => 3, slow_seconds => 1,
	kinds => [qw(500 502 503 504 reset truncated nonjson 429 slow hang)] });
my %did;
my $wh_seq = 0;
my $deliveries = 0;
my %webhook_ids;
my $worker_changes = 0;
my %refill_at;
my $t_soak = time;
while (time - $t_soak < $SOAK)
{
	my $name = $names[ int(rand(@names)) ];
	my $shop = $shops{$name};
	my $x = rand();
	if ($x < 0.40)
	{
		my $full = rand() < 0.6 ? 'true' : 'false';
		$node->safe_psql('app', "SELECT shopify_sync_products($sid{$name}, $full)");
		$did{"product syncs requested"}++;
	}
	elsif ($x < 0.55 && $shop->{orders})
	{
		my $full = rand() < 0.5 ? 'true' : 'false';
		$node->safe_psql('app', "SELECT shopify_sync_orders($sid{$name}, $full)");
		$did{"order syncs requested"}++;
	}
	elsif ($x < 0.70)
	{
		$standin->mutate($shop->{domain}, { update => 15, delete => 1, create => 3, delete_variants => 1,
			add_variants => 1, seed => int(rand(1e6)) });
		$did{"catalog mutations"}++;
	}
	elsif ($x < 0.85 && $shop->{orders})
	{
		# orders change, and their orders/updated webhooks arrive, each twice
		my $m = $standin->orders_mutate($shop->{domain}, { create => 3, update => 6, cancel => 1, refund => 1,
			seed => int(rand(1e6)) });
		my @sql;
		for my $oid (@{ $m->{touched} })
		{
			my $body = $json->encode($standin->order($shop->{domain}, $oid));
			my $id = "soak-$seed-" . ++$wh_seq;
			$webhook_ids{$id} = 1;
			my $q = "SELECT shopify_receive_webhook('orders/updated', '$shop->{domain}', '" . sign($body)
			  . "', \$b\$$body\$b\$, '$id')";
			push @sql, $q, $q;
		}
		$node->safe_psql('app', join(";\n", @sql)) if @sql;
		$deliveries += @sql;
		$did{"order mutations with webhooks"}++;
	}
	elsif (!$refill_at{gql})
	{
		# another app spent the GraphQL store's cost bucket and keeps it low
		# for 2 s while a sync runs: its queries are THROTTLED
		my $g = $shops{gql}{graphql};
		$node->safe_psql('app', "SELECT shopify_sync_products($sid{gql}, false)");
		$standin->set_graphql($shops{gql}{domain}, { maximum => $g->{maximum}, restore => 400, available => 0 });
		$refill_at{gql} = time + 2;
		$did{"GraphQL buckets drained"}++;
	}
	for my $n (grep { $refill_at{$_} && $refill_at{$_} <= time } keys %refill_at)
	{
		$standin->set_graphql($shops{$n}{domain}, $shops{$n}{graphql});
		delete $refill_at{$n};
	}
	my $p = worker_pid($node);
	$worker_changes++ if $p != $worker;
	usleep(150_000 + int(rand(250_000)));
}
my $fault_secs = time - $t_soak;
my $stats = $standin->stats->{shops};
$standin->clear_faults;
for my $name (qw(gql bulk))
{
	$standin->set_graphql($shops{$name}{domain}, $shops{$name}{graphql});
}

# ---- settle: every job ends
my $settled = wait_until(sub {
	$node->safe_psql('app', "SELECT count(*) FROM shopify.sync_jobs WHERE status IN ('pending', 'running')") eq '0'
}, 60);
ok($settled, sprintf('after %.0f s of faults every job ended within a minute', $fault_secs));
is(worker_pid($node), $worker, "the worker never died (pid $worker throughout)");
is($worker_changes, 0, 'not even for a moment');

my ($n_jobs, $n_completed, $n_failed, $n_other, $unclear) = split /\|/, $node->safe_psql('app',
	"SELECT count(*), count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = 'failed'),"
	  . " count(*) FILTER (WHERE status NOT IN ('completed', 'failed')),"
	  . " count(*) FILTER (WHERE status = 'failed' AND (error_class IS NULL OR coalesce(error, '') = ''))"
	  . " FROM shopify.sync_jobs");
cmp_ok($n_jobs, '>=', 10, "$n_jobs jobs ran");
is($n_other, 0, 'every job completed or failed');
is($unclear, 0, 'every failed job has an error class and a message');
cmp_ok($n_completed, '>', 0, "$n_completed completed");
my $failures = $node->safe_psql('app', "SELECT coalesce(string_agg(error_class || ' ' || n, ', '), 'none') FROM"
	  . " (SELECT error_class, count(*) AS n FROM shopify.sync_jobs WHERE status = 'failed' GROUP BY 1 ORDER BY 2 DESC) f");
my $failed_examples = $node->safe_psql('app', "SELECT string_agg(DISTINCT left(error, 160), E'\\n') FROM"
	  . " (SELECT error FROM shopify.sync_jobs WHERE status = 'failed' LIMIT 5) f");
is($node->safe_psql('app', "SELECT count(*) FROM shopify.sync_jobs WHERE status = 'failed'"
	  . " AND (error NOT LIKE error_class || ': %' OR length(error) < length(error_class) + 10)"), '0',
	'every failure message starts with its class and says what happened')
  or diag $failed_examples;

# nothing written twice
is($node->safe_psql('app', 'SELECT count(*) FROM shopify.sync_jobs WHERE variants_processed'
	  . ' <> variants_created + variants_updated + variants_unchanged + variants_failed'), '0',
	'every job\'s counters add up (processed = created + updated + unchanged + failed)');
# progress rows (at most one a second) count the pages up, never back, to the job's figure
is($node->safe_psql('app', q{SELECT count(*) FROM shopify.sync_jobs j WHERE api IN ('rest', 'graphql')
	AND status = 'completed' AND (
	  pages_fetched IS DISTINCT FROM (SELECT (l.details->>'pages_fetched')::int FROM shopify.sync_log l
	                                   WHERE l.sync_job_id = j.id AND l.event = 'product_sync_progress'
	                                   ORDER BY l.id DESC LIMIT 1)
	  OR EXISTS (SELECT 1 FROM (SELECT (l.details->>'pages_fetched')::int
	                                   - lag((l.details->>'pages_fetched')::int) OVER (ORDER BY l.id) AS d
	                              FROM shopify.sync_log l
	                             WHERE l.sync_job_id = j.id AND l.event = 'product_sync_progress') x
	              WHERE d <= 0))}), '0',
	'each page was written once: progress rows count the pages up to the job\'s pages_fetched');
is($node->safe_psql('app', q{SELECT count(*) FROM shopify.sync_jobs j WHERE
	(SELECT count(*) FROM shopify.sync_log l WHERE l.sync_job_id = j.id AND l.event = 'sync_operation'
	   AND l.details->>'operation' = 'started') <> 1
	OR (SELECT count(*) FROM shopify.sync_log l WHERE l.sync_job_id = j.id AND l.event = 'sync_operation'
	   AND l.details->>'operation' IN ('completed', 'failed')) <> 1}), '0',
	'every job logged one start and one end');
is($node->safe_psql('app', 'SELECT sum(attempts) - count(*) FROM shopify.sync_jobs'), '0',
	'no job was started twice');
my ($events, $distinct_ids, $unprocessed, $ev_failed) = split /\|/, $node->safe_psql('app',
	'SELECT count(*), count(DISTINCT webhook_id), count(*) FILTER (WHERE NOT processed),'
	  . ' count(*) FILTER (WHERE error IS NOT NULL) FROM shopify.webhook_events');
is($events, scalar(keys %webhook_ids), "$deliveries deliveries of " . scalar(keys %webhook_ids)
	  . " webhooks stored once each ($events events)");
is($distinct_ids, $events, 'one event per webhook id');
ok(wait_until(sub { $node->safe_psql('app', 'SELECT count(*) FROM shopify.webhook_events WHERE NOT processed') eq '0' }, 30),
	'every event processed');
is($ev_failed, 0, 'no event failed');
is($node->safe_psql('app', "SELECT count(*) FROM (SELECT details->>'event_id' FROM shopify.sync_log"
	  . " WHERE event = 'webhook_processing' AND details->>'outcome' = 'applied' GROUP BY 1 HAVING count(*) > 1) d"), '0',
	'no event applied twice');
# a transaction of the worker may fail on a damaged answer (class payload),
# a few times at most per job that failed for it: never in a loop
my @db_errors = slurp_file($node->logfile) =~ /shopify_sync worker: (.* failed: .*)/g;
my $data_failed = $node->safe_psql('app',
	"SELECT count(*) FROM shopify.sync_jobs WHERE status = 'failed' AND error_class IN ('payload', 'database')");
cmp_ok(scalar(@db_errors), '<=', 3 * $data_failed,
	sprintf('%d failed transactions in the worker, for %d jobs that failed on their data (no error loop)',
		scalar(@db_errors), $data_failed)) or diag(join("\n", @db_errors[0 .. ($#db_errors < 9 ? $#db_errors : 9)]));

# ---- after the faults: one clean sync per store, every mirror exact
my @jobs = map { [ $_, 'products', enqueue_sync($node, $sid{$_}) ] } @names;
push @jobs, map { [ $_, 'orders', $node->safe_psql('app', "SELECT id FROM shopify_sync_orders($sid{$_})") ] }
  grep { $shops{$_}{orders} } @names;
my $clean = 0;
for my $j (@jobs)
{
	my $row = wait_job($node, $j->[2], 120);
	$clean++ if $row->{status} eq 'completed';
	diag("clean $j->[1] sync of $j->[0]: " . explain($row)) if $row->{status} ne 'completed';
}
is($clean, scalar(@jobs), "after the faults, every clean sync completed ($clean)");
my $diffs = mirror_diff_many($node, $standin, [ map { [ $shops{$_}{domain}, $sid{$_}, $api{$_} ] } @names ]);
for my $name (@names)
{
	my $d = $diffs->{ $sid{$name} };
	is("$d->{missing}/$d->{extra}", '0/0', "$name store: mirror exact ($d->{expected} variants)");
}
for my $name (grep { $shops{$_}{orders} } @names)
{
	my $od = orders_diff($node, $standin, $shops{$name}, $sid{$name});
	is("$od->{missing_orders}/$od->{extra_orders}/$od->{missing_lines}/$od->{extra_lines}", '0/0/0/0',
		"$name store: orders exact ($od->{orders} orders, $od->{lines} lines)");
}
is(worker_pid($node), $worker, 'still the same worker');

# ---- figures
my (%faults, $requests, $thr_gql, $r429);
for my $d (values %$stats)
{
	$faults{$_} += $d->{faults_injected}{$_} for keys %{ $d->{faults_injected} // {} };
	$requests += $d->{requests};
	$thr_gql += $d->{throttled_graphql};
	$r429 += $d->{throttled_429};
}
my $injected = 0;
$injected += $_ for values %faults;
cmp_ok($injected, '>', 0, "$injected faults injected");
my ($retries, $limited, $calls) = split /\|/, $node->safe_psql('app',
	'SELECT sum(api_retries), sum(rate_limited), sum(api_calls) FROM shopify.sync_jobs');
my $by_kind = $node->safe_psql('app', "SELECT string_agg(k || ' ' || n, ', ') FROM (SELECT resource || '/' || api"
	  . " || '/' || CASE WHEN full_sync THEN 'full' ELSE 'incremental' END || '/' || status AS k, count(*) AS n"
	  . " FROM shopify.sync_jobs GROUP BY 1 ORDER BY 1) x");
note('---- figures');
note(sprintf('faults for %.1f s at rate %.2f: %d of %d requests faulted (%s)', $fault_secs, $RATE, $injected,
	$requests, join(', ', map { "$_ $faults{$_}" } sort keys %faults)));
note("stand-in answers: $r429 bucket 429s, $thr_gql GraphQL THROTTLED");
note('soak actions: ' . join(', ', map { "$_ $did{$_}" } sort keys %did) . ", $deliveries webhook deliveries");
note("jobs: $n_jobs ($n_completed completed, $n_failed failed: $failures)");
note("jobs by resource/api/type/status: $by_kind");
note("API calls $calls, retries $retries, rate-limit waits $limited");
note("failure messages (examples):\n$failed_examples") if $failed_examples;
note(sprintf('test time %.0f s', time - $t_start));

$node->stop;
$standin->stop;
done_testing();
