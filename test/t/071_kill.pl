# kill -9 of the worker at random points, 20 times in a row (seeded; set
# KILL_SEED to repeat a run): during REST and GraphQL product syncs (full
# and incremental), order syncs and the processing of a burst of webhooks,
# with the stand-in's catalog and orders mutated now and then between jobs.
# Every kill is a crash of the cluster's shared state (the postmaster
# reinitialises and the launcher starts a new worker); every interrupted
# job is recovered and resumed; at the end no job is left running, every
# mirror is exact, no page was counted twice (a full job's counters equal
# the catalog it listed), every webhook event was applied once, and the log
# shows each recovery.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use Digest::SHA qw(hmac_sha256_base64);
use JSON::PP;
use HTTP::Tiny;
use ShopifySyncNode;
use ShopifyStandin;

my $KILLS = $ENV{KILLS} // 20;
my $seed = $ENV{KILL_SEED} // (time() ^ $$) % 1_000_000;
srand($seed);
note("random seed $seed (KILL_SEED=$seed repeats this run)");
my $t_start = time;

my $secret = 'kill-test-secret-' . int(rand(1e9));
my $r = ShopifyStandin::make_shop(domain => 'kill-rest.myshopify.com', products => 1500,
	variants_min => 1, variants_max => 4, orders => { count => 1500, seed => 11 },
	bucket => { size => 400, leak => 200.0 });	# so that answers carry the call-limit header
my $g = ShopifyStandin::make_shop(domain => 'kill-gql.myshopify.com', products => 1200,
	variants_min => 1, variants_max => 4, bucket => undef,
	graphql => { maximum => 20000, restore => 10000 });
my $standin = ShopifyStandin->start(config => { shops => [ $r, $g ] },
	dir => PostgreSQL::Test::Utils::tempdir());
my $node = new_sync_node('kill', api => 'rest', base_url => $standin->base_url, conf => <<"EOF");
restart_after_crash = on
shopify_sync.rest_page_size = 50
shopify_sync.rest_leak_rate = 200
shopify_sync.max_job_attempts = 40
shopify_sync.bulk_threshold = -1
shopify_sync.webhook_secret = '$secret'
shopify_sync.webhook_rate_limit = 0
EOF
my $sr = connect_shop($node, $r);
my $sg = connect_shop($node, $g);
$node->safe_psql('app', "SELECT shopify_set_store_api($sg, 'graphql')");
my $json = JSON::PP->new->utf8->canonical;

# Baseline: one clean sync of each (no latency), so that webhooks and
# incremental syncs have a mirror to work on.
is(run_sync($node, $sr)->{status}, 'completed', 'baseline REST sync');
is(run_sync($node, $sg)->{status}, 'completed', 'baseline GraphQL sync');
$standin->faults({ rate => 0, latency_ms => 100 });	# a sync now takes a few seconds

# ---- helpers
sub open_job
{
	my ($sid, $resource) = @_;
	return $node->safe_psql('app', "SELECT id FROM shopify.sync_jobs WHERE shop_id = $sid"
		  . " AND resource = '$resource' AND status IN ('pending', 'running')");
}

my %full_expect;	# job id => [products, variants] (or [orders]) listed by the stand-in

sub enqueue
{
	my ($kind, $full) = @_;
	my $f = $full ? 'true' : 'false';
	my ($sid, $shop) = $kind eq 'gql' ? ($sg, $g) : ($sr, $r);
	if ($kind eq 'orders')
	{
		my $id = $node->safe_psql('app', "SELECT id FROM shopify_sync_orders($sr, $f)");
		$full_expect{$id} = [ 'orders', $standin->orders_stats($r->{domain})->{order_count} ] if $full;
		return $id;
	}
	my $info = $standin->shop_info($shop->{domain});
	my $id = $node->safe_psql('app', "SELECT id FROM shopify_sync_products($sid, $f)");
	$full_expect{$id} = [ 'products', $info->{products}, $info->{variants} ] if $full;
	return $id;
}

sub sign
{
	my $s = hmac_sha256_base64($_[0], $secret);
	$s .= '=' while length($s) % 4;
	return $s;
}

# Update 50 live products of the REST shop three times, and deliver the
# 150 products/update webhooks (in order) in one psql call.
my $wh_seq = 0;
sub webhook_burst
{
	# products the stand-in still has (not decoding its whole catalog: JSON::PP is slow)
	my %gone = map { $_ => 1 } @{ $standin->deleted($r->{domain})->{product_ids} };
	my @pids = map { 0 + $_ } grep { !$gone{$_} } split /\n/, $node->safe_psql('app',
		"SELECT DISTINCT product_id FROM shopify.products WHERE shop_id = $sr ORDER BY 1");
	my @some = map { splice(@pids, int(rand(@pids)), 1) } 1 .. 50;
	my @sql;
	for my $round (1 .. 3)
	{
		$standin->mutate($r->{domain},
			{ ops => [ map { { op => 'update', product_id => $_, title => "Webhook $wh_seq.$round of $_" } } @some ] });
		my $res = $standin->api($r->{token}, GET => '/admin/api/2026-07/products.json?limit=250&ids=' . join(',', @some));
		die "products.json: $res->{status}" unless $res->{success};
		for my $p (@{ decode_json($res->{content})->{products} })
		{
			$p->{variant_gids} = [ map { { admin_graphql_api_id => "gid://shopify/ProductVariant/$_->{id}" } } @{ $p->{variants} } ];
			my $body = $json->encode($p);
			my $id = "kill-wh-$seed-" . ++$wh_seq;
			push @sql, "SELECT shopify_receive_webhook('products/update', '$r->{domain}', '" . sign($body)
			  . "', \$b\$$body\$b\$, '$id')";
		}
	}
	# one transaction: the worker sees all of them at once, at the commit
	$node->safe_psql('app', join(";\n", 'BEGIN', @sql, 'COMMIT'));
	return scalar(@sql);
}

sub worker_state
{
	my ($ret, $out) = $node->psql('app', q{SELECT string_agg(CASE WHEN s.job_id IS NULL THEN 'worker ' || s.worker_state
		ELSE j.resource || ' job ' || s.job_id || ' ' || s.job_state || ' (page ' || j.pages_fetched || '/'
		  || CASE WHEN j.api = 'graphql' THEN '~' ELSE '' END
		  || coalesce(ceil(j.total_products / CASE WHEN j.api = 'graphql' THEN 40.0 ELSE 50.0 END)::text, '?') || ')' END, '; ')
		FROM shopify._worker_slots() s LEFT JOIN shopify.sync_jobs j ON j.id = s.job_id});
	return $ret == 0 ? $out : 'unknown (no connection)';
}

# ---- 20 kills
my (%by_kind, %by_stage, @kill_log, @restart_secs);
# the first KILLS-3 cycles: each kind of work a fair number of times, in a random order
my @pool = qw(rest gql orders webhooks);
my @plan = ((qw(rest gql orders webhooks)) x int(($KILLS - 3) / 4));
push @plan, $pool[ int(rand(@pool)) ] while @plan < $KILLS - 3;
for (my $i = $#plan; $i > 0; $i--)
{
	my $j = int(rand($i + 1));
	@plan[ $i, $j ] = @plan[ $j, $i ];
}
my $webhooks_sent = 0;
my $killed_running = 0;
for my $k (1 .. $KILLS)
{
	# the last three: an order sync and a full sync of each store, no mutation after them
	my $kind = $k == $KILLS - 2 ? 'orders' : $k == $KILLS - 1 ? 'gql' : $k == $KILLS ? 'rest'
	  : $plan[ $k - 1 ];
	my $final = $k > $KILLS - 3;
	my $what;
	my $delay;
	if ($kind eq 'webhooks')
	{
		# not while the store's product sync runs: its counters are checked against the catalog
		my $busy = open_job($sr, 'products');
		wait_job($node, $busy, 60) if $busy ne '';
		my $n = webhook_burst();
		$webhooks_sent += $n;
		$what = "webhook burst of $n";
		$delay = rand(0.3);
	}
	else
	{
		my ($sid, $domain, $resource) = $kind eq 'gql' ? ($sg, $g->{domain}, 'products')
		  : $kind eq 'orders' ? ($sr, $r->{domain}, 'orders') : ($sr, $r->{domain}, 'products');
		my $job = open_job($sid, $resource);
		if ($final && $job ne '')
		{
			# the final check needs a full sync begun after the last mutation
			wait_job($node, $job, 60);
			$job = '';
		}
		if ($job eq '')
		{
			my $full = $final || rand() < 0.75;
			if (rand() < 0.5)
			{
				if ($resource eq 'orders')
				{
					$standin->orders_mutate($domain, { create => 10, update => 15, cancel => 2, refund => 3,
						seed => int(rand(1e6)) });
				}
				else
				{
					$standin->mutate($domain, { update => 20, delete => 3, create => 5, delete_variants => 2,
						add_variants => 2, seed => int(rand(1e6)) });
				}
			}
			$job = enqueue($kind, $full);
			$what = ($full ? 'full ' : 'incremental ') . "$kind $resource job $job";
		}
		else
		{
			$what = "$kind $resource job $job again";
		}
		$delay = 0.05 + rand(2.2);
	}
	usleep(int($delay * 1e6));
	my $stage = worker_state();
	if ($what =~ /webhook/)
	{
		my ($ret, $left) = $node->psql('app', 'SELECT count(*) FROM shopify.webhook_events WHERE NOT processed');
		$stage .= "; $left events to apply" if $ret == 0;
	}
	my $pid = worker_pid($node);
	if (!$pid)
	{
		fail("kill $k: no worker to kill");
		next;
	}
	kill 'KILL', $pid;
	my $t_kill = time;
	my $ok = wait_for_worker_change($node, $pid, 60);
	push @restart_secs, time - $t_kill;
	ok($ok, sprintf('kill %d (%s, after %.2f s, at: %s): a new worker started %.1f s later',
		$k, $what, $delay, $stage, time - $t_kill));
	$killed_running++ if $stage =~ /job \d+ /;
	my $bucket = $stage =~ /writing page/ ? 'writing a page'
	  : $stage =~ /fetching|reading shop|counting/ ? 'waiting for Shopify'
	  : $stage =~ /waiting/ ? 'waiting (rate limit or retry)'
	  : $stage =~ /starting/ ? 'starting a job'
	  : $stage =~ /; 0 events to apply/ ? 'webhooks (all applied already)'
	  : $stage =~ /events to apply/ ? 'applying webhook events'
	  : $stage =~ /worker idle/ ? 'idle (job already done)'
	  : $stage;
	$by_kind{ $what =~ /webhook/ ? 'webhooks' : $kind }++;
	$by_stage{$bucket}++;
	push @kill_log, sprintf('%2d %5.1f s %-40s %5.2f s  %s', $k, $t_kill - $t_start, $what, $delay, $stage);
}

# ---- settle: everything completes
my $settled = wait_until(sub {
	$node->safe_psql('app', "SELECT count(*) FROM shopify.sync_jobs WHERE status IN ('pending', 'running')") eq '0'
	  && $node->safe_psql('app', 'SELECT count(*) FROM shopify.webhook_events WHERE NOT processed') eq '0'
}, 90);
ok($settled, 'everything settled: no job pending or running, every webhook event processed');
$standin->faults({ rate => 0, latency_ms => 0 });
note(sprintf('settled %.1f s into the test', time - $t_start));

my $jobs = $node->safe_psql('app', "SELECT status || ':' || count(*) FROM shopify.sync_jobs GROUP BY status ORDER BY 1");
$jobs =~ s/\n/, /g;
is($node->safe_psql('app', "SELECT count(*) FROM shopify.sync_jobs WHERE status <> 'completed'"), '0',
	"every job completed ($jobs)");
is($node->safe_psql('app', 'SELECT count(*) FROM shopify.sync_jobs WHERE variants_processed'
	  . ' <> variants_created + variants_updated + variants_unchanged + variants_failed'), '0',
	'every job\'s counters add up (processed = created + updated + unchanged + failed)');

# a full job's counters equal what the stand-in listed: no page counted twice or lost
my @bad;
for my $id (sort { $a <=> $b } keys %full_expect)
{
	my $j = job_row($node, $id);
	my $e = $full_expect{$id};
	if ($e->[0] eq 'orders')
	{
		push @bad, "job $id: $j->{variants_processed} orders processed, $e->[1] listed"
		  if $j->{variants_processed} != $e->[1];
	}
	elsif ($j->{products_fetched} != $e->[1] || $j->{variants_processed} != $e->[2])
	{
		push @bad, "job $id: $j->{products_fetched} products / $j->{variants_processed} variants, $e->[1] / $e->[2] listed";
	}
}
is(scalar(@bad), 0, sprintf('every one of the %d full jobs counted each product, variant and order once',
	scalar(keys %full_expect))) or diag(join("\n", @bad));

# recoveries: every extra start of a job was a logged recovery
my ($extra_starts, $recovered, $resumed, $jobs_hit) = split /\|/, $node->safe_psql('app',
	"SELECT (SELECT coalesce(sum(attempts - 1), 0) FROM shopify.sync_jobs),"
	  . " (SELECT count(*) FROM shopify.sync_log WHERE details->>'operation' = 'recovered'),"
	  . " (SELECT count(*) FROM shopify.sync_log WHERE details->>'operation' = 'resumed'),"
	  . " (SELECT count(*) FROM shopify.sync_jobs WHERE attempts > 1)");
cmp_ok($recovered, '>', 0, "$recovered recoveries logged");
is($recovered, $extra_starts, "each of the $extra_starts restarts of a job follows a logged recovery");
my $log = slurp_file($node->logfile);
my $signals = () = $log =~ /"shopify_sync worker" \(PID \d+\) was terminated by signal 9/g;
my $reinit = () = $log =~ /all server processes terminated; reinitializing/g;
my $started = () = $log =~ /shopify_sync worker started in database/g;
is($signals, $KILLS, "the server log shows the $KILLS kills");
is($reinit, $KILLS, 'and as many crash restarts');
cmp_ok($started, '>=', $KILLS + 1, "and $started worker starts");
unlike($log, qr/TRAP:|PANIC:/, 'no assertion failure or panic');

# webhooks: each event applied once
my ($events, $failed_ev) = split /\|/, $node->safe_psql('app',
	"SELECT count(*), count(*) FILTER (WHERE error IS NOT NULL) FROM shopify.webhook_events");
is($events, $webhooks_sent, "every delivered webhook stored once ($events)");
is($failed_ev, 0, 'no event failed');
is($node->safe_psql('app', "SELECT count(*) FROM (SELECT details->>'event_id' FROM shopify.sync_log"
	  . " WHERE event = 'webhook_processing' GROUP BY 1 HAVING count(*) > 1) d"), '0',
	'no event was logged as processed twice');

# the mirrors
my $diffs = mirror_diff_many($node, $standin, [ [ $r->{domain}, $sr, 'rest' ], [ $g->{domain}, $sg, 'graphql' ] ]);
for my $s ([ 'REST', $sr ], [ 'GraphQL', $sg ])
{
	my $d = $diffs->{ $s->[1] };
	is("$d->{missing}/$d->{extra}", '0/0', "$s->[0] store: mirror exact ($d->{expected} variants)");
}
my $od = orders_diff($node, $standin, $r, $sr);
is("$od->{missing_orders}/$od->{extra_orders}/$od->{missing_lines}/$od->{extra_lines}", '0/0/0/0',
	"orders mirror exact ($od->{orders} orders, $od->{lines} lines)");

note('---- kills (n, test time, what was running, delay after its start, state observed just before the kill)');
note($_) for @kill_log;
note('kills by work: ' . join(', ', map { "$_ $by_kind{$_}" } sort keys %by_kind));
note('kills by stage: ' . join(', ', map { "$_ $by_stage{$_}" } sort keys %by_stage));
my @rs = sort { $a <=> $b } @restart_secs;
note(sprintf('kills that hit a running job: %d of %d; jobs: %s; jobs resumed: %d; recoveries logged: %d; resumptions logged: %d',
	$killed_running, $KILLS, $jobs, $jobs_hit, $recovered, $resumed));
note(sprintf('time from kill to new worker: median %.1f s, max %.1f s', $rs[ $#rs / 2 ], $rs[-1]));
note(sprintf('webhook events delivered: %d; test time %.0f s', $webhooks_sent, time - $t_start));

$node->stop;
$standin->stop;
done_testing();
