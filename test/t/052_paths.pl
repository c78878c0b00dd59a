# The path of a sync, and what every path must get right:
#   - a Standard-plan store (GraphQL 100 points/s) syncs through a bulk
#     operation when pages would take longer, and through pages when few
#     products changed; the job says why (path_reason), the store keeps what
#     was learned (path_stats), shopify_sync.bulk_threshold set to a number
#     forces the fixed rule;
#   - removed variants are deactivated by an incremental sync over GraphQL
#     (also when a product's variants span several pages) and through a bulk
#     operation; a variant that comes back is active again;
#   - order syncs run as bulk operations, full and incremental, and mirror
#     exactly (also when line items come before their order in the file); a
#     truncated result fails the job;
#   - bulk operations of one store run at once from API version 2026-01, one
#     at a time before.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use JSON::PP;
use ShopifySyncNode;
use ShopifyStandin;

# A Standard plan: a 1,000-point bucket restoring 100 points/s.
my $std = ShopifyStandin::make_shop(domain => 'paths-standard.myshopify.com', products => 600,
	bucket => undef, graphql => { maximum => 1000, restore => 100 });
# Variants over several pages: 5 with each product, a product of 300.
my $big = ShopifyStandin::make_shop(domain => 'paths-variants.myshopify.com', products => 60,
	big_products => [300], bucket => undef, graphql => { maximum => 20000, restore => 10000 });
my $ord = ShopifyStandin::make_shop(domain => 'paths-orders.myshopify.com', products => 50,
	bucket => undef, graphql => { maximum => 20000, restore => 10000 },
	orders => { count => 800, seed => 12, lines_max => 6 });
my $standin = ShopifyStandin->start(config => { shops => [ $std, $big, $ord ] },
	dir => PostgreSQL::Test::Utils::tempdir(), timeout => 60);
my $node = new_sync_node('paths', base_url => $standin->base_url, conf => <<"EOF");
restart_after_crash = on
shopify_sync.graphql_variants_per_product = 5
EOF
my $ss = connect_shop($node, $std);
my $sb = connect_shop($node, $big);
my $so = connect_shop($node, $ord);

sub setting
{
	my ($name, $value) = @_;
	$node->safe_psql('app', defined $value ? "ALTER SYSTEM SET shopify_sync.$name = '$value'"
		: "ALTER SYSTEM RESET shopify_sync.$name");
	$node->reload;
	usleep(300_000);
}

sub order_sync
{
	my ($sid, $full) = @_;
	my $id = $node->safe_psql('app', "SELECT id FROM shopify_sync_orders($sid, " . ($full ? 'true' : 'false') . ")");
	return wait_job($node, $id, 240);
}

sub active { $node->safe_psql('app', "SELECT is_active FROM shopify.products WHERE sku_id = $_[0]") }

# ---- the path by expected time
my $job = run_sync($node, $ss, timeout => 240);
is($job->{status}, 'completed', 'Standard-plan store: full sync completed') or diag explain $job;
is($job->{api}, 'bulk', 'it ran as a bulk operation (600 products at 100 points/s)');
like($job->{path_reason}, qr/^bulk: expected \d+ s, pages \d+ s .*100 points\/s/, 'the job says why')
  or diag $job->{path_reason};
my $est = sql_json($node, "SELECT path_estimate FROM shopify.sync_jobs WHERE id = $job->{id}");
cmp_ok($est->{bulk_s}, '<', $est->{pages_s}, "the estimates: bulk $est->{bulk_s} s < pages $est->{pages_s} s");
my $diff = mirror_diff($node, $standin, $std->{domain}, $ss, 'graphql');
is($diff->{missing} + $diff->{extra}, 0, "mirror exact ($diff->{expected} variants)");
my $stats = sql_json($node, "SELECT path_stats FROM shopify.stores WHERE shop_id = $ss");
is($stats->{graphql_restore_rate}, 100, 'the store\'s restore rate is kept');
is($stats->{bulk_operations}, 1, 'the bulk operation is learned from');
cmp_ok($stats->{bulk_fixed_s}, '>', 0, "its fixed time learned ($stats->{bulk_fixed_s} s)");

$standin->mutate($std->{domain}, { update => 3, seed => 3 });
sleep 1;
$job = run_sync($node, $ss, full => 0);
is($job->{status} . ' ' . $job->{api}, 'completed graphql', 'three products changed: the incremental sync used pages');
like($job->{path_reason}, qr/^pages: expected/, 'and says why') or diag $job->{path_reason};
is($job->{products_fetched}, 3, 'exactly the changed products were listed');

setting('bulk_threshold', -1);
$job = run_sync($node, $ss, full => 0);
is($job->{api} . ' | ' . $job->{path_reason}, 'graphql | pages: shopify_sync.bulk_threshold = -1 (never bulk)',
	'bulk_threshold = -1 keeps the fixed rule');
setting('bulk_threshold', 0);
$job = run_sync($node, $ss, full => 0);
is($job->{api} . ' | ' . $job->{path_reason}, 'bulk | bulk: shopify_sync.bulk_threshold = 0 (always bulk)',
	'bulk_threshold = 0 always bulk (an incremental sync with the updated_at filter)');
is($job->{status}, 'completed', 'the incremental bulk sync completed');
setting('bulk_threshold', undef);
is($node->safe_psql('app', "SELECT count(*) FROM information_schema.columns"
	  . " WHERE table_schema = 'shopify' AND table_name = 'sync_progress' AND column_name = 'path_reason'"),
	1, 'shopify.sync_progress shows path_reason');

# ---- removed variants: GraphQL pages, a product whose variants span pages
setting('bulk_threshold', -1);
$job = run_sync($node, $sb);
is($job->{status}, 'completed', 'variants store: full sync over pages');
my @rows = grep { $_->{position} } @{ $standin->expected($big->{domain}, 'graphql') };
my %count;
$count{ $_->{product_id} }++ for @rows;
my ($bigp) = grep { $count{$_} == 300 } keys %count;
my @bigv = sort { $a->{position} <=> $b->{position} } grep { $_->{product_id} == $bigp } @rows;
my ($small) = grep { $count{$_} >= 2 && $_ != $bigp } sort keys %count;
my @smallv = grep { $_->{product_id} == $small } @rows;
my ($gone_big, $gone_small) = ($bigv[279]{sku_id}, $smallv[0]{sku_id});
is(active($gone_big), 't', 'variant 280 of the 300-variant product is mirrored');
$standin->mutate($big->{domain}, { ops => [ { op => 'delete_variant', variant_id => $gone_big + 0 },
	{ op => 'delete_variant', variant_id => $gone_small + 0 } ] });
sleep 1;
$job = run_sync($node, $sb, full => 0);
is($job->{status}, 'completed', 'incremental sync after two variants were deleted');
is($job->{variants_deactivated}, 2, 'both deleted variants counted deactivated');
is(active($gone_big), 'f', 'the variant deleted from the product whose variants span three pages is inactive');
is(active($gone_small), 'f', 'the variant deleted from a product on one page is inactive');
is($node->safe_psql('app', "SELECT count(*) FROM shopify.products WHERE product_id = $bigp AND is_active"), 299,
	'the 299 others, listed over three pages, are all active');
$diff = mirror_diff($node, $standin, $big->{domain}, $sb, 'graphql');
is($diff->{missing} + $diff->{extra}, 0, 'mirror exact after the incremental sync');

# ... and through a bulk operation
setting('bulk_threshold', 0);
my $gone_bulk = $bigv[10]{sku_id};
$standin->mutate($big->{domain}, { ops => [ { op => 'delete_variant', variant_id => $gone_bulk + 0 } ] });
sleep 1;
$job = run_sync($node, $sb, full => 0);
is($job->{api} . ' ' . $job->{status}, 'bulk completed', 'incremental bulk sync after a variant was deleted');
is($job->{variants_deactivated}, 1, 'the deleted variant counted deactivated');
is(active($gone_bulk), 'f', 'and inactive');
$diff = mirror_diff($node, $standin, $big->{domain}, $sb, 'graphql');
is($diff->{missing} + $diff->{extra}, 0, 'mirror exact after the incremental bulk sync');

# a product that comes back: its variants are active again
my $back = (grep { $_ != $bigp && $_ != $small } sort keys %count)[0];
$standin->mutate($big->{domain}, { ops => [ { op => 'delete', product_id => $back + 0 } ] });
setting('bulk_threshold', -1);
$job = run_sync($node, $sb);
cmp_ok($job->{variants_deactivated}, '>=', 1, 'a deleted product is deactivated by the full sync');
$standin->mutate($big->{domain}, { ops => [ { op => 'restore', product_id => $back + 0 } ] });
sleep 1;
$job = run_sync($node, $sb, full => 0);
is($node->safe_psql('app', "SELECT bool_and(is_active) FROM shopify.products WHERE product_id = $back"), 't',
	'restored in Shopify: the incremental sync reactivates its variants');

# ---- orders through bulk operations
setting('bulk_threshold', 0);
sub orders_exact
{
	my ($what) = @_;
	my $d = orders_diff($node, $standin, $ord, $so);
	ok($d->{orders} > 0 && $d->{missing_orders} + $d->{extra_orders} + $d->{missing_lines} + $d->{extra_lines} == 0,
		"$what: orders and lines exact ($d->{orders} orders, $d->{lines} lines)") or diag explain $d;
}
$job = order_sync($so, 1);
is($job->{api} . ' ' . $job->{status}, 'bulk completed', 'full order sync through a bulk operation') or diag explain $job;
is($job->{variants_processed}, 800, 'every order counted');
orders_exact('bulk full');
my $line_count = $node->safe_psql('app', "SELECT bool_and(line_item_count = n) FROM shopify.orders o,"
	  . " LATERAL (SELECT count(*) AS n FROM shopify.order_lines l WHERE l.order_id = o.order_id) c WHERE o.shop_id = $so");
is($line_count, 't', 'line_item_count equals the lines mirrored');
my $STATS = "SELECT shopify_store_stats($so) - 'last_sync_at' - 'last_sync_status' - 'last_sync_job_id'";

$standin->orders_mutate($ord->{domain}, { create => 5, update => 8, cancel => 2, refund => 2, seed => 9 });
sleep 1;
$job = order_sync($so, 0);
is($job->{api} . ' ' . $job->{status}, 'bulk completed', 'incremental order sync through a bulk operation');
orders_exact('bulk incremental');

# the same figures as a paged sync
$node->safe_psql('app', "DELETE FROM shopify.orders WHERE shop_id = $so");
setting('bulk_threshold', -1);
$job = order_sync($so, 1);
is($job->{api} . ' ' . $job->{status}, 'graphql completed', 'the same orders over pages');
my $stats_pages = sql_json($node, $STATS);
$node->safe_psql('app', "DELETE FROM shopify.orders WHERE shop_id = $so");
setting('bulk_threshold', 0);
$job = order_sync($so, 1);
is_deeply(sql_json($node, $STATS), $stats_pages,
	'shopify_store_stats after a bulk order sync equals that after a paged one');

# line items before their order in the file (groupObjects: false)
$standin->set_bulk($ord->{domain}, { children_first => 0.6, seed => 4 });
$node->safe_psql('app', "DELETE FROM shopify.orders WHERE shop_id = $so");
$job = order_sync($so, 1);
is($job->{status}, 'completed', 'a result whose line items come before their orders');
is($job->{variants_failed}, 0, 'no line was lost waiting for its order');
orders_exact('children first');
is($node->safe_psql('app', "SELECT count(*) FROM shopify.bulk_pending"), 0, 'nothing left waiting');
$standin->set_bulk($ord->{domain}, { reset => JSON::PP::true });

# kill -9 in the middle of the download: the same operation, downloaded again, exact
$node->safe_psql('app', "DELETE FROM shopify.orders WHERE shop_id = $so");
$standin->set_bulk($ord->{domain}, { download_bytes_per_s => 40_000 });
my $oj = $node->safe_psql('app', "SELECT id FROM shopify_sync_orders($so)");
# the result (~1 MB at 40 kB/s) fits in one stream buffer: it is written
# when the download ends, so the worker is killed while it downloads
ok(wait_until(sub {
	$node->safe_psql('app', "SELECT count(*) FROM shopify.sync_progress WHERE job_id = $oj AND job_state = 'downloading bulk result'") > 0 }, 120),
	'order download under way');
sleep 2;
my $wpid = worker_pid($node);
kill 'KILL', $wpid;
ok(wait_for_worker_change($node, $wpid, 60), 'server recovered, new worker');
$standin->set_bulk($ord->{domain}, { download_bytes_per_s => undef });
$job = wait_job($node, $oj, 240);
is($job->{status} . ' ' . $job->{attempts}, 'completed 2', 'the interrupted bulk order sync completed, resumed once');
my @oops = grep { $_->{id} eq $job->{bulk_operation_id} } @{ $standin->bulk_info($ord->{domain})->{operations} };
is(scalar(@oops), 1, 'the same operation was polled again');
my $n_orders = scalar(@{ $standin->orders_expected($ord->{domain})->{orders} });
is($job->{variants_processed}, $n_orders, "counts start afresh with the new download ($n_orders orders)");
orders_exact('after a crash in the download');

# a truncated result
$standin->set_bulk($ord->{domain}, { truncate_lines => 7 });
$job = order_sync($so, 1);
is($job->{status}, 'failed', 'a truncated order result fails the job');
like($job->{error}, qr/objectCount/, 'with the objectCount check in its error');
$standin->set_bulk($ord->{domain}, { reset => JSON::PP::true });

# ---- several bulk operations at once (2026-01 and later), one before
sub start_both
{
	my $p = enqueue_sync($node, $so);
	my $o = $node->safe_psql('app', "SELECT id FROM shopify_sync_orders($so)");
	my $jp = wait_job($node, $p, 240);
	my $jo = wait_job($node, $o, 240);
	my @ops = @{ $standin->bulk_info($ord->{domain})->{operations} };
	return ($jp, $jo, @ops[-2, -1]);
}
$standin->set_bulk($ord->{domain}, { delay_s => 3 });
my ($jp, $jo, $op1, $op2) = start_both();
is("$jp->{status} $jo->{status}", 'completed completed', 'API 2026-07: product and order bulk syncs of one store');
cmp_ok(abs(timestamp_s($op2->{createdAt}) - timestamp_s($op1->{createdAt})), '<=', 1,
	'their operations were created together');
setting('api_version', '2025-10');
($jp, $jo, $op1, $op2) = start_both();
is("$jp->{status} $jo->{status}", 'completed completed', 'API 2025-10: both complete');
cmp_ok(timestamp_s($op2->{createdAt}) - timestamp_s($op1->{createdAt}), '>=', 3,
	'one operation at a time: the second started after the first had finished');
is($node->safe_psql('app', "SELECT count(*) FROM shopify.sync_log WHERE sync_job_id IN ($jp->{id}, $jo->{id})"
	  . " AND details->>'operation' = 'bulk_waiting'"), 1, 'the second waited, and said so');
setting('api_version', undef);
$standin->set_bulk($ord->{domain}, { reset => JSON::PP::true });

sub timestamp_s
{
	my ($ts) = @_;
	return $node->safe_psql('app', "SELECT extract(epoch FROM '$ts'::timestamptz)");
}

$node->stop;
$standin->stop;
done_testing();
