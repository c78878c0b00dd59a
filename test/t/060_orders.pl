# Orders: full and incremental order syncs over GraphQL and REST mirror the
# stand-in's orders exactly (orders and line items, field by field), orders
# with more line items than a page carries are complete, faults are
# survived, orders/* webhooks keep the mirror current and never go back in
# time, and shopify_store_stats equals figures the stand-in computes on its
# own from its data.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Digest::SHA qw(hmac_sha256_base64);
use JSON::PP;
use ShopifySyncNode;
use ShopifyStandin;

# Three shops in three currencies; GraphQL and REST.
my $g = ShopifyStandin::make_shop(domain => 'orders-gql.myshopify.com', products => 120,
	bucket => undef, currency => 'USD', orders => { count => 700, seed => 3, lines_max => 7 });
$g->{graphql} = { maximum => 20000, restore => 10000 };
my $r = ShopifyStandin::make_shop(domain => 'orders-rest.myshopify.com', products => 80,
	bucket => undef, currency => 'EUR', orders => { count => 600, seed => 4 });
my $j = ShopifyStandin::make_shop(domain => 'orders-jpy.myshopify.com', products => 40,
	bucket => undef, currency => 'JPY', orders => { count => 150, seed => 5 });
$j->{graphql} = { maximum => 20000, restore => 10000 };
my $secret = 'orders-webhook-secret-' . int(rand(1e9));
my $standin = ShopifyStandin->start(config => { shops => [ $g, $r, $j ] },
	dir => PostgreSQL::Test::Utils::tempdir());
# two line items per order in a GraphQL page: orders with more need follow-ups
my $node = new_sync_node('orders', base_url => $standin->base_url, conf => <<"EOF");
shopify_sync.graphql_page_size = 50
shopify_sync.graphql_lines_per_order = 2
shopify_sync.webhook_secret = '$secret'
EOF
my $sg = connect_shop($node, $g);
my $sr = connect_shop($node, $r);
my $sj = connect_shop($node, $j);
$node->safe_psql('app', "SELECT shopify_set_store_api($sr, 'rest')");

sub run_order_sync
{
	my ($shop_id, %o) = @_;
	my $full = ($o{full} // 1) ? 'true' : 'false';
	my $id = $node->safe_psql('app', "SELECT id FROM shopify_sync_orders($shop_id, $full)");
	return wait_job($node, $id, $o{timeout} // 180);
}

sub exact
{
	my ($d) = @_;
	return $d->{missing_orders} + $d->{extra_orders} + $d->{missing_lines} + $d->{extra_lines} == 0
	  && $d->{orders} > 0;
}

# shopify_store_stats against the stand-in's own figures at the same instant.
sub check_stats
{
	my ($shop, $shop_id, $what) = @_;
	my $row = sql_json($node, "SELECT json_build_object('now', extract(epoch FROM now()),"
		  . " 'stats', shopify_store_stats($shop_id))");
	my $s = $row->{stats};
	my $want = $standin->orders_stats($shop->{domain}, $row->{now});
	is($s->{order_count}, $want->{order_count}, "$what: order_count $want->{order_count}");
	is($s->{cancelled_order_count}, $want->{cancelled_count}, "$what: cancelled orders");
	my $cmp = $node->safe_psql('app', sprintf(
		"SELECT %s::numeric = '%s'::numeric AND %s::numeric = '%s'::numeric AND %s::numeric = '%s'::numeric",
		$s->{total_revenue}, $want->{total_revenue}, $s->{revenue_last_30_days},
		$want->{revenue_last_30_days}, $s->{average_order_value}, $want->{average_order_value}));
	is($cmp, 't', "$what: total_revenue $want->{total_revenue}, last 30 days "
		  . "$want->{revenue_last_30_days}, average $want->{average_order_value} $want->{currency}")
	  or diag explain { mirror => $s, standin => $want };
	is($s->{currency}, $want->{currency}, "$what: currency $want->{currency}");
	is_deeply([ map { [ $_->{sku_id}, $_->{units} ] } @{ $s->{top_variants} } ],
		[ map { [ $_->{sku_id}, $_->{units} ] } @{ $want->{top_variants} } ],
		"$what: top variants by units sold");
}

# ---- GraphQL full order sync
my $job = run_order_sync($sg);
is($job->{status}, 'completed', 'GraphQL order sync completed') or diag explain $job;
is($job->{resource}, 'orders', 'the job is an order sync');
is($job->{api}, 'graphql', 'it used GraphQL');
my $d = orders_diff($node, $standin, $g, $sg);
ok(exact($d), "GraphQL: mirror exact ($d->{orders} orders, $d->{lines} line items)") or diag explain $d;
is($job->{total_products}, $d->{orders}, 'the job counted the orders (ordersCount)');
is($job->{variants_processed}, $d->{orders}, 'every order processed once');
my $ops = $node->safe_psql('app', qq{
	SELECT string_agg(DISTINCT substring(details->>'endpoint' FROM '\\((\\w+)\\)'), ',')
	  FROM shopify.sync_log WHERE sync_job_id = $job->{id} AND event = 'shopify_api_call'});
is($ops, 'ShopifySyncOrderLines,ShopifySyncOrders,ShopifySyncOrdersCount,ShopifySyncShop',
	'orders with more lines than a page carries were completed with follow-up queries');
is($node->safe_psql('app', qq{SELECT details->>'orders_processed' FROM shopify.sync_log
	WHERE sync_job_id = $job->{id} AND details->>'operation' = 'completed'}), $d->{orders},
	'the completion is logged in orders');
is($node->safe_psql('app', "SELECT count(*) FROM shopify.products WHERE shop_id = $sg"), '0',
	'an order sync does not touch the product mirror');
check_stats($g, $sg, 'GraphQL shop');

# ---- REST full order sync (status=any: closed and cancelled orders too)
$job = run_order_sync($sr);
is($job->{status}, 'completed', 'REST order sync completed') or diag explain $job;
is($job->{api}, 'rest', 'it used REST');
$d = orders_diff($node, $standin, $r, $sr);
ok(exact($d), "REST: mirror exact ($d->{orders} orders, $d->{lines} line items)") or diag explain $d;
cmp_ok($node->safe_psql('app', "SELECT count(*) FROM shopify.orders WHERE shop_id = $sr AND cancelled_at IS NOT NULL"),
	'>', 0, 'cancelled orders are mirrored');
check_stats($r, $sr, 'REST shop');

# ---- a third currency; each shop's revenue in its own currency
is(run_order_sync($sj)->{status}, 'completed', 'JPY shop synced');
ok(exact(orders_diff($node, $standin, $j, $sj)), 'JPY shop mirror exact');
check_stats($j, $sj, 'JPY shop');

# ---- incremental: creations, updates, cancellations, refunds
for my $case ([ $g, $sg, 'GraphQL' ], [ $r, $sr, 'REST' ])
{
	my ($shop, $sid, $api) = @$case;
	my $m = $standin->orders_mutate($shop->{domain},
		{ create => 4, update => 6, cancel => 3, refund => 4, seed => 11 });
	sleep 1;
	$job = run_order_sync($sid, full => 0);
	is($job->{status}, 'completed', "$api incremental order sync completed");
	# the window starts at the last sync's start less shopify_sync.incremental_lookback:
	# exactly the orders Shopify lists as updated since then, the touched ones among them
	my $since = $node->safe_psql('app', "SELECT to_char(updated_since AT TIME ZONE 'UTC', "
		  . "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM shopify.sync_jobs WHERE id = $job->{id}");
	my $cr = $standin->api($shop->{token}, GET =>
		  "/admin/api/2026-07/orders/count.json?status=any&updated_at_min=$since");
	my $window = decode_json($cr->{content})->{count};
	is($job->{products_fetched}, $window,
		"$api: the orders updated since $since were listed ($window)");
	cmp_ok($window, '>=', scalar(@{ $m->{touched} }), "$api: the touched orders among them");
	is($job->{total_products}, $window, "$api: and counted first");
	$d = orders_diff($node, $standin, $shop, $sid);
	ok(exact($d), "$api: mirror exact after the incremental sync") or diag explain $d;
	check_stats($shop, $sid, "$api shop after changes");
}

# ---- faults on every call kind, REST and GraphQL
$standin->faults({ rate => 0.08, seed => 5, hang_seconds => 3, slow_seconds => 1,
	kinds => [qw(500 502 503 504 reset truncated nonjson 429 slow hang)] });
$standin->orders_mutate($g->{domain}, { update => 20, cancel => 2, seed => 12 });
$standin->orders_mutate($r->{domain}, { update => 20, refund => 3, seed => 13 });
my @jobs = map { $node->safe_psql('app', "SELECT id FROM shopify_sync_orders($_)") } ($sg, $sr);
my @rows = map { wait_job($node, $_, 300) } @jobs;
$standin->clear_faults;
is($rows[0]{status}, 'completed', 'GraphQL order sync with 8 % faults completed') or diag explain $rows[0];
is($rows[1]{status}, 'completed', 'REST order sync with 8 % faults completed') or diag explain $rows[1];
ok(exact(orders_diff($node, $standin, $g, $sg)), 'GraphQL mirror exact despite faults');
ok(exact(orders_diff($node, $standin, $r, $sr)), 'REST mirror exact despite faults');
cmp_ok($rows[0]{api_retries} + $rows[0]{rate_limited} + $rows[1]{api_retries} + $rows[1]{rate_limited},
	'>', 0, 'the jobs retried');

# ---- one active order sync per store, beside its product sync
my $o1 = $node->safe_psql('app', "SELECT id FROM shopify_sync_orders($sj)");
my $o2 = $node->safe_psql('app', "SELECT id FROM shopify_sync_orders($sj, false)");
is($o1, $o2, 'a second order sync request returns the active job');
my $p1 = $node->safe_psql('app', "SELECT id FROM shopify_sync_products($sj)");
isnt($p1, $o1, 'a product sync of the same store is a separate job');
is(wait_job($node, $o1)->{status}, 'completed', 'the order sync completed');
is(wait_job($node, $p1)->{status}, 'completed', 'the product sync completed');
cmp_ok($node->safe_psql('app', "SELECT count(*) FROM shopify.products WHERE shop_id = $sj"), '>', 0,
	'the product mirror was filled by its own job');
ok(exact(orders_diff($node, $standin, $j, $sj)), 'and the order mirror is still exact');
is($node->safe_psql('app', qq{
	SELECT count(*) FROM shopify_store_stats($sj) s, jsonb_array_elements(s->'top_variants') t
	 WHERE t->>'title' IS NOT NULL}),
	$node->safe_psql('app', "SELECT jsonb_array_length(shopify_store_stats($sj)->'top_variants')"),
	'top variants are joined to the product mirror (titles)');

# ---- webhooks: orders/updated, orders/cancelled, orders/create
my $json = JSON::PP->new->utf8->canonical;
my $seq = 0;

sub deliver
{
	my ($shop, $topic, $body) = @_;
	my $sig = hmac_sha256_base64($body, $secret);
	$sig .= '=' while length($sig) % 4;
	my $tag = '$b' . int(rand(1e6)) . '$';
	return $node->safe_psql('app', "SELECT shopify_receive_webhook('$topic', '$shop->{domain}', '$sig', "
		  . "${tag}${body}${tag}, 'wh-orders-" . ++$seq . "')");
}

sub wait_processed
{
	my ($event_id) = @_;
	return wait_until(sub {
		$node->safe_psql('app', "SELECT processed FROM shopify.webhook_events WHERE id = $event_id") eq 't'
	}, 20);
}

my $m = $standin->orders_mutate($g->{domain}, { create => 1, cancel => 1, refund => 1, seed => 21 });
my @touched = @{ $m->{touched} };
my %topic = map { $_ => 'orders/updated' } @touched;
$topic{$_} = 'orders/create' for @{ $m->{created} // [] };
$topic{$_} = 'orders/cancelled' for @{ $m->{cancelled} // [] };
my @events;
for my $oid (@touched)
{
	my $body = $json->encode($standin->order($g->{domain}, $oid));
	push @events, deliver($g, $topic{$oid}, $body);
}
ok((!grep { !wait_processed($_) } @events), scalar(@events) . ' order webhooks processed');
is($node->safe_psql('app', 'SELECT count(*) FROM shopify.webhook_events WHERE topic LIKE \'orders/%\' AND error IS NOT NULL'),
	'0', 'without errors');
like($node->safe_psql('app', "SELECT string_agg(DISTINCT note, ',') FROM shopify.webhook_events WHERE topic LIKE 'orders/%'"),
	qr/^applied: order (created|updated)/, 'applied to the mirror');
$d = orders_diff($node, $standin, $g, $sg);
ok(exact($d), 'mirror exact from webhooks alone, without a sync') or diag explain $d;
check_stats($g, $sg, 'after order webhooks');

# an older delivery of an order changes nothing
my ($victim) = @touched;
my $old = $standin->order($g->{domain}, $victim);
$old->{updated_at} = '2001-01-01T00:00:00Z';
$old->{total_price} = '0.01';
my $e = deliver($g, 'orders/updated', $json->encode($old));
ok(wait_processed($e), 'a stale order delivery was processed');
is($node->safe_psql('app', "SELECT total_price <> 0.01 FROM shopify.orders WHERE order_id = $victim"), 't',
	'and did not take the mirror back in time');

# an order of another store is never taken over
my $theirs = $node->safe_psql('app', "SELECT min(order_id) FROM shopify.orders WHERE shop_id = $sr");
my $alien = $standin->order($g->{domain}, $victim);
$alien->{id} = $theirs + 0;
$alien->{updated_at} = '2099-01-01T00:00:00Z';
$e = deliver($g, 'orders/updated', $json->encode($alien));
ok(wait_until(sub { $node->safe_psql('app', "SELECT error IS NOT NULL FROM shopify.webhook_events WHERE id = $e") eq 't' }, 20),
	'a delivery naming another store\'s order fails');
is($node->safe_psql('app', "SELECT shop_id FROM shopify.orders WHERE order_id = $theirs"), $sr,
	'and the order stays with its store');
# a payload that is not an order
$e = deliver($g, 'orders/updated', '{"hello": "world"}');
ok(wait_until(sub { $node->safe_psql('app', "SELECT error FROM shopify.webhook_events WHERE id = $e") ne '' }, 20),
	'a payload that is not an order is refused with an error');

# ---- disconnect: orders deactivated and counted; the mirror keeps them
my $res = sql_json($node, "SELECT shopify_disconnect($sj)");
is($res->{cleanup_results}{orders_deactivated}, $node->safe_psql('app', "SELECT count(*) FROM shopify.orders WHERE shop_id = $sj"),
	"disconnect deactivated the store's $res->{cleanup_results}{orders_deactivated} orders");
is($node->safe_psql('app', "SELECT count(*) FROM shopify.orders WHERE shop_id = $sj AND is_active"), '0',
	'no active order left');
my ($ret, undef, $err) = $node->psql('app', "SELECT shopify_sync_orders($sj)");
like($err, qr/disconnected|not active|token/i, 'a disconnected store cannot sync orders');

$standin->stop;
$node->stop;
done_testing();
