# GraphQL Admin API syncs (the default): full and incremental syncs mirror
# exactly, products with hundreds of variants are complete, the query cost
# is paced from throttleStatus, THROTTLED answers wait, other GraphQL errors
# fail clearly, a store can be switched to REST.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use ShopifySyncNode;
use ShopifyStandin;

my $g = ShopifyStandin::make_shop(domain => 'graph.myshopify.com', products => 600,
	big_products => [300, 120], bucket => undef);
$g->{graphql} = { maximum => 20000, restore => 10000 };
my $p = ShopifyStandin::make_shop(domain => 'paced-graph.myshopify.com', products => 200, bucket => undef);
$p->{graphql} = { maximum => 1000, restore => 500 };
my $standin = ShopifyStandin->start(config => { shops => [ $g, $p ] },
	dir => PostgreSQL::Test::Utils::tempdir());
my $node = new_sync_node('graphql', base_url => $standin->base_url, conf => <<'EOF');
shopify_sync.bulk_threshold = -1
EOF
is($node->safe_psql('app', 'SHOW shopify_sync.api'), 'graphql', 'GraphQL is the default');
my $sg = connect_shop($node, $g);
my $sp = connect_shop($node, $p);

# ---- full sync
my $job = run_sync($node, $sg);
is($job->{status}, 'completed', 'GraphQL full sync completed') or diag explain $job;
is($job->{api}, 'graphql', 'the job used GraphQL');
my $diff = mirror_diff($node, $standin, $g->{domain}, $sg, 'graphql');
is($diff->{missing} + $diff->{extra}, 0, "mirror exact, field by field ($diff->{expected} variants)")
  or diag explain $diff;
is($node->safe_psql('app',
	"SELECT max(n) FROM (SELECT count(*) n FROM shopify.products WHERE shop_id = $sg AND is_active GROUP BY product_id) x"),
	'300', 'the product with 300 variants is complete');
is($job->{products_fetched}, $job->{total_products}, 'products_fetched = productsCount');
is($job->{variants_processed}, $diff->{expected}, 'every variant processed once');
is($node->safe_psql('app', "SELECT currency FROM shopify.stores WHERE shop_id = $sg"), $g->{currency},
	'currency from the shop query');
my $ops = $node->safe_psql('app', qq{
	SELECT string_agg(DISTINCT substring(details->>'endpoint' FROM '\\((\\w+)\\)'), ',')
	  FROM shopify.sync_log WHERE sync_job_id = $job->{id} AND event = 'shopify_api_call'});
is($ops, 'ShopifySyncCount,ShopifySyncProductVariants,ShopifySyncProducts,ShopifySyncShop',
	'API calls are logged with their GraphQL operation');
cmp_ok($node->safe_psql('app',
	"SELECT count(*) FROM shopify.sync_log WHERE sync_job_id = $job->{id} AND details ? 'cost_available'"),
	'>', 0, 'the cost left in the bucket is logged');

# ---- incremental
my $m = $standin->mutate($g->{domain}, { update => 25, create => 3, seed => 9 });
sleep 1;
$job = run_sync($node, $sg, full => 0);
is($job->{status}, 'completed', 'GraphQL incremental sync completed');
is($job->{products_fetched}, scalar(@{ $m->{touched} }), 'only the touched products were listed');
$diff = mirror_diff($node, $standin, $g->{domain}, $sg, 'graphql');
is($diff->{missing} + $diff->{extra}, 0, 'mirror exact after the incremental sync');

# ---- deletes through a full sync; the 300-variant product loses one variant
my $big = $node->safe_psql('app',
	"SELECT product_id FROM shopify.products WHERE shop_id = $sg GROUP BY product_id HAVING count(*) = 300");
my $victim = $node->safe_psql('app', "SELECT max(sku_id) FROM shopify.products WHERE product_id = $big");
$standin->mutate($g->{domain}, { delete => 4, seed => 4,
	ops => [ { op => 'delete_variant', product_id => $big + 0, variant_id => $victim + 0 } ] });
$job = run_sync($node, $sg);
cmp_ok($job->{variants_deactivated}, '>', 1, "deleted variants deactivated ($job->{variants_deactivated})");
is($node->safe_psql('app', "SELECT is_active FROM shopify.products WHERE sku_id = $victim"), 'f',
	'a variant beyond the first page of a product was found deleted');
$diff = mirror_diff($node, $standin, $g->{domain}, $sg, 'graphql');
is($diff->{missing} + $diff->{extra}, 0, 'mirror exact after deletes');

# ---- pacing against a small cost bucket
$node->safe_psql('app', "ALTER SYSTEM SET shopify_sync.graphql_page_size = 20");
$node->reload;
$standin->reset_stats;
$job = run_sync($node, $sp);
is($job->{status}, 'completed', 'sync against a 1000-point bucket completed');
my $st = $standin->shop_stats($p->{domain});
cmp_ok($st->{throttled_graphql} // 0, '<=', 2, "at most a couple of THROTTLED answers ($st->{throttled_graphql})");
$diff = mirror_diff($node, $standin, $p->{domain}, $sp, 'graphql');
is($diff->{missing} + $diff->{extra}, 0, 'mirror exact');

# ---- THROTTLED: waited for, not a failure
# (the pacing avoids THROTTLED when it knows the bucket, so empty it and
# slow it down under the running job, then give it back its rate)
$standin->set_graphql($p->{domain}, { maximum => 1000, restore => 1, available => 0 });
my $jid = enqueue_sync($node, $sp);
usleep(500_000);
$standin->set_graphql($p->{domain}, { maximum => 1000, restore => 500 });
$job = wait_job($node, $jid);
is($job->{status}, 'completed', 'a sync that starts with an empty bucket completes');
cmp_ok($job->{rate_limited}, '>=', 1, "it waited out THROTTLED ($job->{rate_limited})");
is($job->{api_retries}, 0, 'without counting failed attempts');

# ---- whatever the settings, a page stays within the single-query cost limit
$node->safe_psql('app', "ALTER SYSTEM SET shopify_sync.graphql_page_size = 250");
$node->safe_psql('app', "ALTER SYSTEM SET shopify_sync.graphql_variants_per_product = 250");
$node->reload;
$job = run_sync($node, $sp);
is($job->{status}, 'completed', 'the largest settings still give pages Shopify accepts (sizes derived from the cost)');
$node->safe_psql('app', "ALTER SYSTEM RESET shopify_sync.graphql_page_size");
$node->safe_psql('app', "ALTER SYSTEM RESET shopify_sync.graphql_variants_per_product");
$node->reload;

# ---- a query Shopify refuses for its cost fails clearly (Shopify's answer,
# crafted: the extension's own pages never ask that much)
$standin->inject($p->{domain}, { path_prefix => '/admin/api/2026-07/graphql.json',
	operation => 'ShopifySyncProducts',
	responses => [ { body => '{"errors":[{"message":"Query cost is 1202, which exceeds the single query max cost limit (1000).",'
		. '"extensions":{"code":"MAX_COST_EXCEEDED","cost":1202,"maxCost":1000}}],'
		. '"extensions":{"cost":{"requestedQueryCost":1202,"actualQueryCost":null,'
		. '"throttleStatus":{"maximumAvailable":2000.0,"currentlyAvailable":2000,"restoreRate":100.0}}}}' } ] });
$job = run_sync($node, $sp);
is($job->{status}, 'failed', 'a page refused for its cost fails the sync');
is($job->{error_class}, 'graphql', 'error class graphql');
like($job->{error}, qr/MAX_COST_EXCEEDED.*exceeds the single query max cost limit/, "with Shopify's explanation");
$standin->clear_injections($p->{domain});

# ---- a store switched to REST
is($node->safe_psql('app', "SELECT shopify_set_store_api($sg, 'rest')"), 'rest', 'store switched to REST');
$job = run_sync($node, $sg);
is($job->{api} . ' ' . $job->{status}, 'rest completed', 'its next sync used REST');
$node->safe_psql('app', "SELECT shopify_set_store_api($sg, NULL)");

$node->stop;
$standin->stop;
done_testing();
