# Product sync over REST against the stand-in: exact mirror, unchanged rows
# not rewritten, incremental, deletes, reactivation, sync_inventory = false,
# progress while running, logging, connection reuse, no transaction held
# across a request.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use ShopifySyncNode;
use ShopifyStandin;

my $shop = ShopifyStandin::make_shop(
	domain => 'mirror-test.myshopify.com', products => 1800,
	big_products => [100, 100], variants_max => 8, bucket => undef);
my $standin = ShopifyStandin->start(config => { shops => [$shop] },
	dir => PostgreSQL::Test::Utils::tempdir());
my $node = new_sync_node('sync', api => 'rest', base_url => $standin->base_url);
my $sid = connect_shop($node, $shop);
ok($sid > 0, 'store connected');

# ---- full sync: every variant, field by field
my $job = run_sync($node, $sid);
# the worker keeps the statistics of the table it fills current (its kept
# plans would otherwise be made for an empty table): analyzed by the sync
# itself, not only by autovacuum
cmp_ok($node->safe_psql('app', "SELECT analyze_count FROM pg_stat_user_tables WHERE relid = 'shopify.products'::regclass"),
	'>=', 1, 'the sync analyzed shopify.products as it filled it');
is($job->{status}, 'completed', 'full sync completed') or diag explain $job;
my $diff = mirror_diff($node, $standin, $shop->{domain}, $sid);
cmp_ok($diff->{expected}, '>', 7000, "catalog of $diff->{expected} variants");
is($diff->{missing}, 0, 'every expected variant is mirrored with every field equal')
  or diag explain $diff->{examples};
is($diff->{extra}, 0, 'no unexpected active rows');
is($job->{variants_processed}, $diff->{expected}, 'variants_processed = catalog size');
is($job->{variants_created}, $diff->{expected}, 'all created on the first sync');
is($job->{variants_processed},
	$job->{variants_created} + $job->{variants_updated} + $job->{variants_unchanged} + $job->{variants_failed},
	'processed = created + updated + unchanged + failed');
is($job->{products_fetched}, $job->{total_products}, 'products_fetched = count.json total');
is($job->{progress_percentage}, 100, 'progress 100 %');
is($job->{api}, 'rest', 'job used the REST API');
my $info = $standin->shop_info($shop->{domain});
is($job->{total_products}, $info->{products}, 'total_products from products/count.json');
is($node->safe_psql('app', "SELECT shop_name || '/' || currency FROM shopify.stores WHERE shop_id = $sid"),
	"$shop->{name}/$shop->{currency}", 'shop name and currency learned from shop.json');
is($node->safe_psql('app', "SELECT last_sync_status FROM shopify.stores WHERE shop_id = $sid"),
	'completed', 'store shows the completed sync');

# prices are exact numerics, ids bigints beyond 2^32
is($node->safe_psql('app', "SELECT pg_typeof(price)::text FROM shopify.products LIMIT 1"), 'numeric', 'price is numeric');
ok($node->safe_psql('app', "SELECT min(sku_id) > 4294967296 FROM shopify.products") eq 't', 'ids beyond 32 bits');
my $big = $node->safe_psql('app',
	"SELECT max(n) FROM (SELECT count(*) n FROM shopify.products WHERE shop_id = $sid GROUP BY product_id) x");
is($big, '100', 'a 100-variant product is complete');

# ---- the same catalog again: nothing rewritten
my $before = $node->safe_psql('app', "SELECT md5(string_agg(sku_id || ':' || xmin, ',' ORDER BY sku_id)) FROM shopify.products");
$job = run_sync($node, $sid);
is($job->{status}, 'completed', 'second full sync completed');
is($job->{variants_unchanged}, $diff->{expected}, 'all variants unchanged');
is($job->{variants_created} + $job->{variants_updated}, 0, 'none created or updated');
is($node->safe_psql('app', "SELECT md5(string_agg(sku_id || ':' || xmin, ',' ORDER BY sku_id)) FROM shopify.products"),
	$before, 'no row was rewritten (same xmin everywhere)');

# ---- changes: incremental picks up updates and creations
my $m = $standin->mutate($shop->{domain},
	{ update => 30, delete => 6, create => 5, delete_variants => 4, add_variants => 4, seed => 11 });
sleep 1;
$job = run_sync($node, $sid, full => 0);
is($job->{status}, 'completed', 'incremental sync completed');
is($job->{sync_type}, 'incremental_sync', 'sync_type incremental_sync');
ok(defined $job->{updated_since}, 'incremental sync has an updated_since bound');
is($job->{products_fetched}, scalar(@{ $m->{touched} }), 'only the touched products were fetched');
cmp_ok($job->{variants_created}, '>', 0, 'new variants created');
cmp_ok($job->{variants_updated}, '>', 0, 'changed variants updated');
# a listed product carries its complete variant list: the variants removed
# from it are deactivated at once; deleted products are not listed at all
is($job->{variants_deactivated}, 4,
	'an incremental sync deactivates the variants removed from the products it lists');
$diff = mirror_diff($node, $standin, $shop->{domain}, $sid);
is($diff->{missing}, 0, 'after the incremental sync every current variant matches')
  or diag explain $diff->{examples};
my $deleted = $standin->deleted($shop->{domain});
my $del_list = join(',', @{ $deleted->{sku_ids} });
my $gone_products = join(',', @{ $deleted->{product_ids} });
my $of_deleted = $node->safe_psql('app',
	"SELECT count(*) FROM shopify.products WHERE product_id IN ($gone_products) AND is_active");
cmp_ok($of_deleted, '>', 0, 'the variants of deleted products are still active');
is($diff->{extra}, $of_deleted, 'only the variants of deleted products are active until a full sync');
is($of_deleted + 4, scalar(@{ $deleted->{sku_ids} }), 'every other deleted variant is inactive already');

# ---- full sync reflects deletes
$job = run_sync($node, $sid);
is($job->{status}, 'completed', 'full sync after deletes completed');
is($job->{variants_deactivated}, $of_deleted, 'the deleted products\' variants counted deactivated');
$diff = mirror_diff($node, $standin, $shop->{domain}, $sid);
is($diff->{missing} + $diff->{extra}, 0, 'mirror equals the catalog after deletes');
is($node->safe_psql('app',
	"SELECT count(*) FROM shopify.products WHERE sku_id IN ($del_list) AND NOT is_active AND deactivated_at IS NOT NULL"),
	scalar(@{ $deleted->{sku_ids} }), 'deleted variants kept as inactive rows');

# ---- a product that comes back is reactivated
my $back = $deleted->{product_ids}[0];
$standin->mutate($shop->{domain}, { ops => [ { op => 'restore', product_id => $back } ] });
$job = run_sync($node, $sid);
is($node->safe_psql('app', "SELECT bool_and(is_active) FROM shopify.products WHERE product_id = $back"),
	't', 'restored product reactivated');
$diff = mirror_diff($node, $standin, $shop->{domain}, $sid);
is($diff->{missing} + $diff->{extra}, 0, 'mirror exact after the restore');

# ---- sync_inventory = false leaves inventory_quantity alone
$node->safe_psql('app', "UPDATE shopify.products SET inventory_quantity = -999 WHERE shop_id = $sid AND product_id = $back");
$standin->mutate($shop->{domain}, { ops => [ { op => 'update', product_id => $back, title => 'Renamed while inventory is ours' } ] });
$job = run_sync($node, $sid, full => 0, inventory => 0);
is($job->{status}, 'completed', 'incremental sync without inventory completed');
is($node->safe_psql('app', "SELECT DISTINCT title || '|' || inventory_quantity FROM shopify.products WHERE product_id = $back"),
	'Renamed while inventory is ours|-999', 'title updated, inventory untouched');

# ---- logging: start, API calls with rate-limit use, progress, end
my $log = sql_json($node, qq{SELECT json_object_agg(k, n) FROM (
   SELECT event || ':' || coalesce(details->>'operation', '') AS k, count(*) AS n
     FROM shopify.sync_log WHERE sync_job_id = $job->{id} GROUP BY 1) x});
is($log->{'sync_operation:started'}, 1, 'sync start logged');
is($log->{'sync_operation:completed'}, 1, 'sync end logged');
is($log->{'shopify_api_call:'}, $job->{api_calls}, 'one log row per API call');
# progress rows: at most one a second, and the last page's
cmp_ok($log->{'product_sync_progress:'}, '>=', 1, 'progress logged');
cmp_ok($log->{'product_sync_progress:'}, '<=', $job->{pages_fetched}, 'at most one progress row per page');
is(sql_json($node, "SELECT details FROM shopify.sync_log WHERE sync_job_id = $job->{id} AND event = 'product_sync_progress' ORDER BY id DESC LIMIT 1")->{pages_fetched},
	$job->{pages_fetched}, 'the last page is logged');
my $call = sql_json($node, "SELECT details FROM shopify.sync_log WHERE sync_job_id = $job->{id} AND event = 'shopify_api_call' ORDER BY id DESC LIMIT 1");
ok(defined $call->{status} && defined $call->{duration_ms} && defined $call->{request_id},
	'API call rows carry status, duration and request id');
like(slurp_file($node->logfile), qr/event=sync_operation level=info shop_id=$sid job_id=$job->{id} message="sync completed/,
	'the end of the sync is in the server log');

# ---- connections are reused; progress is visible; no transaction across a request
$standin->reset_stats;
$standin->faults({ rate => 0, latency_ms => 150 });
$node->safe_psql('app', "ALTER SYSTEM SET shopify_sync.rest_page_size = 50");
$node->reload;
my $jid = enqueue_sync($node, $sid);
my ($max_xact_ms, $samples, @progress) = (0, 0);
my $deadline = time + 120;
while (time < $deadline)
{
	my ($st, $pct, $xact) = split /\|/, $node->safe_psql('app', qq{
	  SELECT j.status, j.progress_percentage,
	         coalesce((SELECT max(extract(epoch FROM clock_timestamp() - a.xact_start) * 1000)::int
	                     FROM pg_stat_activity a WHERE a.backend_type = 'shopify_sync worker'), 0)
	    FROM shopify.sync_jobs j WHERE j.id = $jid});
	$samples++;
	$max_xact_ms = $xact if $xact > $max_xact_ms;
	push @progress, $pct if $st eq 'running';
	last if $st ne 'running' && $st ne 'pending';
	usleep(40_000);
}
$job = job_row($node, $jid);
is($job->{status}, 'completed', 'slow sync completed');
cmp_ok(scalar(@progress), '>', 5, 'progress observed while running');
my @sorted = sort { $a <=> $b } @progress;
is("@progress", "@sorted", 'progress only grows');
cmp_ok($progress[-1], '<', 100, 'running jobs stay below 100 %');
cmp_ok($max_xact_ms, '<', 150, "worker never held a transaction across a 150 ms request (max seen $max_xact_ms ms in $samples samples)");
my $st = $standin->shop_stats($shop->{domain});
cmp_ok($st->{requests}, '>=', 35, "$st->{requests} requests in the slow sync");
cmp_ok($st->{connections}, '<=', 2, "requests shared $st->{connections} connection(s)");
$standin->faults({ rate => 0, latency_ms => 0 });

$node->stop;
$standin->stop;
done_testing();
