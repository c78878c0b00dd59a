# Resources: shopify_sync() enqueues a store's resources at once, the store
# chooses them, shopify_resources() lists them; a resource declared from a
# GraphQL connection query (shopify_define_resource) is checked when
# declared (each refusal with its SQLSTATE), synced full and incremental
# into shopify.objects exactly (nested connections as rows of their own),
# its deletes seen by full syncs, behind row security; a declaration Shopify
# refuses fails its sync with Shopify's words and writes nothing; every
# declared page document is valid against Shopify's published schema
# (graphql-js), the README's examples too.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use ShopifySyncNode;
use ShopifyStandin;

my $shop = ShopifyStandin::make_shop(
	domain => 'declared.myshopify.com', products => 30, variants_max => 3,
	bucket => undef, orders => { count => 40, seed => 2 },
	draft_orders => { count => 130, seed => 5, lines_max => 4 });
my $standin = ShopifyStandin->start(config => { shops => [$shop] },
	dir => PostgreSQL::Test::Utils::tempdir());
# pages first (bulk_threshold -1); the bulk path and the choice of path further down
my $node = new_sync_node('declared', api => 'graphql', base_url => $standin->base_url,
	conf => "shopify_sync.bulk_threshold = -1\n");
my $sid = connect_shop($node, $shop);
my $json = JSON::PP->new->canonical;

sub q1 { return $node->safe_psql('app', $_[0]); }

# psql's error for sql, with its SQLSTATE (VERBOSITY verbose)
sub sqlstate_of
{
	my ($sql, $role) = @_;
	my ($ret, $out, $err) = $node->psql('app', "\\set VERBOSITY verbose\n"
		  . ($role ? "SET ROLE $role;\n" : '') . $sql);
	return $err =~ /ERROR:\s+([0-9A-Z]{5})/ ? $1 : "no error ($ret)";
}

# ---- the built-in resources, and shopify_sync() over them
my $res = q1("SELECT string_agg(name || ':' || kind || ':' || array_to_string(tables, ','), ' ' ORDER BY name)"
	  . " FROM shopify_resources()");
is($res, 'collections:built-in:shopify.collections,shopify.collection_products'
	  . ' customer_metafields:built-in:shopify.metafields customers:built-in:shopify.customers'
	  . ' inventory_levels:built-in:shopify.inventory_levels locations:built-in:shopify.locations'
	  . ' order_metafields:built-in:shopify.metafields orders:built-in:shopify.orders,shopify.order_lines'
	  . ' product_metafields:built-in:shopify.metafields products:built-in:shopify.products'
	  . ' shop_metafields:built-in:shopify.metafields variant_metafields:built-in:shopify.metafields',
	'shopify_resources() lists the built-in resources with their tables');
is(q1("SELECT webhook_topics FROM shopify_resources() WHERE name = 'orders'"),
	'{orders/create,orders/updated,orders/cancelled}', 'and the webhook topics that carry them');
is(q1("SELECT resources FROM shopify.stores WHERE shop_id = $sid"), '{products,orders}',
	'a store syncs products and orders by default');
# both calls in one transaction: the jobs are still pending at the second (the
# worker cannot claim them before the commit, and this store syncs in a moment)
my ($first, $second) = split /\n\n/, q1("BEGIN; SELECT id || ':' || resource FROM shopify_sync($sid);"
	  . " SELECT ''; SELECT id || ':' || resource FROM shopify_sync($sid); COMMIT;");
my @jobs = grep { length } split /\n/, $first;
is(join(' ', map { (split /:/)[1] } @jobs), 'products orders', 'shopify_sync(shop) enqueues one job per resource');
my %again = map { (split /:/)[1] => (split /:/)[0] } grep { length } split /\n/, $second;
is(join(' ', map { $again{ (split /:/)[1] } } @jobs), join(' ', map { (split /:/)[0] } @jobs),
	'a resource already pending returns its job');
for (@jobs)
{
	my ($id) = split /:/;
	is(wait_job($node, $id, 120)->{status}, 'completed', "job $_ completed");
}
is(sqlstate_of("SELECT * FROM shopify_sync($sid, '{products,nosuch}')"), '22023', 'an unknown resource: 22023');
is(sqlstate_of("SELECT shopify_set_store_resources($sid, '{nosuch}')"), '22023', 'unknown in the store\'s list: 22023');
is(sqlstate_of("SELECT shopify_set_store_resources($sid, '{products,NULL}')"), '22004', 'a NULL name: 22004');

# ---- declaring: who may, and what is refused
q1("CREATE ROLE someone LOGIN");
q1("GRANT USAGE ON SCHEMA shopify TO someone");
my $good = 'draftOrders { edges { node { id name status note2 updatedAt'
  . ' totalPriceSet { shopMoney { amount currencyCode } }'
  . ' lineItems(first: 10) { nodes { id title quantity sku } } } } }';
is(sqlstate_of("SELECT shopify_define_resource('draft_orders', '$good')", 'someone'), '42501',
	'a role not granted EXECUTE may not declare');
my %refused = (
	'draftOrders { nodes { id name }'                          => ['42601', 'a syntax error'],
	'shop { name }'                                            => ['22023', 'a root that is not a connection'],
	'draftOrders { nodes { name } }'                           => ['22023', 'nodes without id'],
	'draftOrders { nodes { id lineItems { nodes { id } } } }'  => ['22023', 'a nested connection without first:'],
	'draftOrders { nodes { id lineItems(first: 250) { nodes { id } } } }' => ['22023', 'nested nodes without... (valid: has id)'],
	'draftOrders(first: $n) { nodes { id } }'                  => ['22023', 'a variable'],
	'mutation { draftOrderDelete(input: {id: "x"}) { deletedId } }' => ['22023', 'a mutation'],
	'draftOrders { nodes { id } } orders { nodes { id } }'     => ['22023', 'two root connections'],
	'draftOrders { nodes { id lineItems(first: 250) { nodes { id a: lineItems(first: 250) { nodes { id } } } } } }'
	  => ['54000', 'a page of one node above 1,000 points'],
);
delete $refused{'draftOrders { nodes { id lineItems(first: 250) { nodes { id } } } }'};
for my $qq (sort keys %refused)
{
	(my $lit = $qq) =~ s/'/''/g;
	is(sqlstate_of("SELECT shopify_define_resource('x_test', '$lit')"), $refused{$qq}[0],
		"refused with $refused{$qq}[0]: $refused{$qq}[1]");
}
is(sqlstate_of("SELECT shopify_define_resource('products', 'draftOrders { nodes { id } }')"), '42710',
	'a built-in name: 42710');
is(sqlstate_of("SELECT shopify_define_resource('Bad Name', 'draftOrders { nodes { id } }')"), '42602',
	'an invalid name: 42602');
is(q1("SELECT count(*) FROM shopify.resource_definitions"), 0, 'nothing refused was stored');

q1("GRANT EXECUTE ON FUNCTION shopify_define_resource(text, text, text, boolean) TO someone");
is(q1("SET ROLE someone; SELECT shopify_define_resource('draft_orders', '$good', 'Draft orders and their lines', true)"),
	'draft_orders', 'a role granted EXECUTE declares draft_orders');
q1("RESET ROLE; REVOKE EXECUTE ON FUNCTION shopify_define_resource(text, text, text, boolean) FROM someone");
my $def = $json->decode(q1("SELECT row_to_json(d) FROM shopify.resource_definitions d WHERE name = 'draft_orders'"));
is($def->{connection}, 'draftOrders', 'its root connection');
cmp_ok($def->{page_size}, '>=', 10, "a page of $def->{page_size} nodes");
cmp_ok($def->{page_cost}, '<=', 1000, "costs $def->{page_cost} points, within Shopify's limit");
is(q1("SELECT kind || ':' || array_to_string(tables, ',') FROM shopify_resources() WHERE name = 'draft_orders'"),
	'declared:shopify.objects', 'shopify_resources() lists it, filling shopify.objects');

# ---- a full sync: every draft order and line, exactly
sub check_mirror
{
	my ($what) = @_;
	my $want = $standin->draft_orders($shop->{domain});
	my $rows = $json->decode(q1("SELECT coalesce(json_agg(json_build_object('id', id, 'parent', parent_id, 'type', type,"
		  . " 'data', data) ORDER BY id), '[]') FROM shopify.objects WHERE shop_id = $sid AND resource = 'draft_orders' AND is_active"));
	my %got = map { $_->{id} => $_ } @$rows;
	my ($missing, $wrong) = (0, 0);
	my $n = 0;
	for my $d (@$want)
	{
		$n++;
		my $g = $got{ $d->{id} } or do { $missing++; next };
		$wrong++ unless !defined($g->{parent}) && $g->{type} eq 'DraftOrder'
		  && $g->{data}{name} eq $d->{name} && $g->{data}{status} eq $d->{status}
		  && $g->{data}{updatedAt} eq $d->{updatedAt} && !exists $g->{data}{lineItems};
		delete $got{ $d->{id} };
		for my $l (@{ $d->{lines} })
		{
			$n++;
			my $gl = $got{ $l->{id} } or do { $missing++; next };
			$wrong++ unless ($gl->{parent} // '') eq $d->{id} && $gl->{type} eq 'DraftOrderLineItem'
			  && $gl->{data}{quantity} == $l->{quantity} && $gl->{data}{title} eq $l->{title};
			delete $got{ $l->{id} };
		}
	}
	is("$missing/$wrong/" . scalar(keys %got), '0/0/0', "$what: $n objects mirrored exactly (missing/wrong/extra)");
	return $n;
}
my ($job) = split /\n/, q1("SELECT id FROM shopify_sync($sid, '{draft_orders}')");
$job = wait_job($node, $job, 120);
is($job->{status}, 'completed', 'the full sync of draft_orders completed') or diag explain $job;
is($job->{api}, 'graphql', 'over GraphQL pages');
my $n = check_mirror('full sync');
is($job->{variants_processed}, $n, 'the job counted every object');
is($job->{variants_created}, $n, 'all of them created');
cmp_ok($job->{pages_fetched}, '>=', 2, "in $job->{pages_fetched} pages");
is(q1("SELECT count(*) FROM shopify.objects WHERE data @> '{\"status\": \"COMPLETED\"}'"),
	scalar(grep { $_->{status} eq 'COMPLETED' } @{ $standin->draft_orders($shop->{domain}) }),
	'data @> finds the completed ones');
like(q1("EXPLAIN SELECT * FROM shopify.objects WHERE data @> '{\"status\": \"OPEN\"}'"), qr/objects_data_idx|Seq Scan/,
	'containment has its GIN index (objects_data_idx)');

# ---- again, nothing changed: nothing rewritten
$job = wait_job($node, (split /\n/, q1("SELECT id FROM shopify_sync($sid, '{draft_orders}')"))[0], 120);
is("$job->{variants_created}/$job->{variants_updated}/$job->{variants_unchanged}", "0/0/$n",
	'a second full sync finds everything unchanged');

# ---- changes: incremental sees updates and additions, a full sync the deletes
my $all = $standin->draft_orders($shop->{domain});
my @del = map { $_->{id} } @$all[3, 7, 11];
my @upd = map { $_->{id} } grep { @{ $_->{lines} } } @$all[20 .. 40];
@upd = @upd[0, 1];
sleep 1;
my $ch = $standin->change_draft_orders($shop->{domain}, { delete => \@del, update => \@upd, add => 2 });
sleep 1;
$job = wait_job($node, (split /\n/, q1("SELECT id FROM shopify_sync($sid, '{draft_orders}', false)"))[0], 120);
is($job->{status}, 'completed', 'an incremental sync completed');
is($job->{sync_type}, 'incremental_sync', 'as an incremental sync');
cmp_ok($job->{variants_processed}, '<', $n / 4, "it fetched only what changed ($job->{variants_processed} objects)");
my $upd_status = $json->decode(q1("SELECT json_object_agg(id, data->>'status') FROM shopify.objects WHERE id IN ('"
	  . join("','", @upd) . "')"));
my %want_status = map { $_->{id} => $_->{status} } @{ $standin->draft_orders($shop->{domain}) };
is(join(',', map { $upd_status->{$_} } @upd), join(',', map { $want_status{$_} } @upd), 'the updated ones changed');
is(q1("SELECT count(*) FROM shopify.objects WHERE id IN ('" . join("','", @{ $ch->{added} }) . "')"), 2,
	'the added ones are there');
is(q1("SELECT count(*) FROM shopify.objects WHERE is_active AND id IN ('" . join("','", @del) . "')"), 3,
	'an incremental sync cannot see deletes');
$job = wait_job($node, (split /\n/, q1("SELECT id FROM shopify_sync($sid, '{draft_orders}')"))[0], 120);
is($job->{status}, 'completed', 'a full sync completed');
cmp_ok($job->{variants_deactivated}, '>=', 3, "it deactivated $job->{variants_deactivated} objects");
is(q1("SELECT count(*) FROM shopify.objects WHERE NOT is_active AND id IN ('" . join("','", @del) . "')"), 3,
	'the deleted draft orders are inactive');
check_mirror('after the changes');
my $log = q1("SELECT message FROM shopify.sync_log WHERE sync_job_id = $job->{id} AND message LIKE '%completed%'");
like($log, qr/^draft_orders sync completed: \d+ objects/, 'the log says what was synced');

# ---- through a bulk operation, chosen: a first full sync (its size unknown), then by size
sub set_threshold
{
	q1("ALTER SYSTEM SET shopify_sync.bulk_threshold = '$_[0]'");
	q1("SELECT pg_reload_conf()");
	sleep 1;
}
set_threshold('auto');
q1("DELETE FROM shopify.objects WHERE resource = 'draft_orders'");
$job = wait_job($node, (split /\n/, q1("SELECT id FROM shopify_sync($sid, '{draft_orders}')"))[0], 120);
is($job->{status}, 'completed', 'a first full sync under auto completed') or diag explain $job;
is($job->{api}, 'bulk', 'through a bulk operation');
like($job->{path_reason}, qr/^bulk: a first full sync/, 'and says why');
my $nb = check_mirror('bulk sync');
is($job->{variants_created}, $nb, "every line written ($nb objects)");
$all = $standin->draft_orders($shop->{domain});
my @del2 = map { $_->{id} } @$all[0, 5];
$standin->change_draft_orders($shop->{domain}, { delete => \@del2 });
set_threshold('0');
$job = wait_job($node, (split /\n/, q1("SELECT id FROM shopify_sync($sid, '{draft_orders}')"))[0], 120);
is("$job->{status}/$job->{api}", 'completed/bulk', 'a full bulk sync of a store that has the objects');
is("$job->{variants_created}/$job->{variants_updated}", '0/0', 'nothing rewritten');
is(q1("SELECT count(*) FROM shopify.objects WHERE NOT is_active AND id IN ('" . join("','", @del2) . "')"), 2,
	'a bulk full sync sees the deletes');
check_mirror('after a bulk sync with deletes');
$job = wait_job($node, (split /\n/, q1("SELECT id FROM shopify_sync($sid, '{draft_orders}', false)"))[0], 120);
is("$job->{status}/$job->{api}", 'completed/graphql', 'an incremental sync pages even so');
like($job->{path_reason}, qr/^pages: an incremental/, 'because it lists only what changed');
set_threshold('-1');

# ---- the store's resources
is(q1("SELECT shopify_set_store_resources($sid, '{draft_orders,products,draft_orders}')"), '{draft_orders,products}',
	'a store chooses its resources (repeats dropped)');
my @r = split /\n/, q1("SELECT resource FROM shopify_sync($sid)");
is(join(' ', @r), 'draft_orders products', 'shopify_sync(shop) then syncs those');
wait_job($node, $_, 120) for split /\n/, q1("SELECT id FROM shopify.sync_jobs WHERE status IN ('pending', 'running')");

# ---- row security
q1("CREATE ROLE other LOGIN");
is($node->safe_psql('app', "SET ROLE other; SELECT count(*) FROM shopify.objects"), 0,
	'another role sees no object of the store');
cmp_ok(q1("SELECT count(*) FROM shopify.objects"), '>', 0, 'the owner sees them');

# ---- a declaration Shopify refuses: the sync fails with Shopify's words, writing nothing
q1("SELECT shopify_define_resource('bad_drafts', 'draftOrders { nodes { id noSuchField } }')");
$job = wait_job($node, (split /\n/, q1("SELECT id FROM shopify_sync($sid, '{bad_drafts}')"))[0], 120);
is($job->{status}, 'failed', 'a query Shopify refuses fails its sync');
like($job->{error}, qr/bad_drafts.*noSuchField/, 'with the declaration\'s name and Shopify\'s message') or diag $job->{error};
is(q1("SELECT count(*) FROM shopify.objects WHERE resource = 'bad_drafts'"), 0, 'writing nothing');

# ---- every declared document is valid against the real schema, the README's examples too
my $graphql_dir = "$ENV{SHOPIFY_FIXTURES}/../graphql";
$graphql_dir = 'test/graphql' unless -d $graphql_dir;
my $readme = "$graphql_dir/../../README.md";
my @examples;
if (open(my $fh, '<', $readme))
{
	local $/;
	my $text = <$fh>;
	# the README's declarations: SELECT shopify_define_resource('name', $$ ... $$ ...
	while ($text =~ /shopify_define_resource\('(\w+)',\s*\$\$(.*?)\$\$/gs) { push @examples, [$1, $2]; }
}
cmp_ok(scalar(@examples), '>=', 2, scalar(@examples) . ' declarations in the README');
for my $e (@examples)
{
	my ($name, $query) = @$e;
	q1("SELECT shopify_define_resource('readme_$name', \$q\$$query\$q\$)");
}
my $out = q1("SELECT json_build_object('name', name, 'api_version', api_version, 'query', query,"
	  . " 'variables', variables, 'bulk', bulk, 'ours', cost) FROM shopify._graphql_documents() WHERE name LIKE '%declared:%'");
my @docs = map { $json->decode($_) } split /\n/, $out;
cmp_ok(scalar(@docs), '>=', 2 + scalar(@examples), scalar(@docs) . ' declared documents');
my $input = $node->basedir . '/declared.jsonl';
open(my $fh, '>', $input) or die $!;
print $fh "$out\n";
close $fh;
my @res = map { $json->decode($_) } split /\n/, `node $graphql_dir/validate_documents.mjs --schema-dir $graphql_dir/schema < $input`;
is(scalar(@res), scalar(@docs), 'each was checked');
for my $i (0 .. $#res)
{
	next if $docs[$i]{name} =~ /declared:bad_drafts/;
	ok($res[$i]{valid}, "$docs[$i]{name} is valid against the $docs[$i]{api_version} schema")
	  or diag explain $res[$i];
	next if $docs[$i]{bulk};
	cmp_ok(abs(($res[$i]{cost} // -1) - $docs[$i]{ours}), '<', 0.001,
		"$docs[$i]{name}: the server's cost ($docs[$i]{ours}) is the schema's") or diag explain $res[$i];
}

# ---- a disconnect deactivates the store's objects too (rows kept)
my $active = q1("SELECT count(*) FROM shopify.objects WHERE shop_id = $sid AND is_active");
my $disc = $json->decode(q1("SELECT shopify_disconnect($sid)"));
is(q1("SELECT count(*) FROM shopify.objects WHERE shop_id = $sid AND is_active"), 0,
	"disconnecting deactivated its $active active objects");
like(q1("SELECT details::text FROM shopify.sync_log WHERE message LIKE 'disconnect %' ORDER BY id DESC LIMIT 1"),
	qr/"objects_deactivated":\s*$active\b/, 'and logged how many');
connect_shop($node, $shop);

# ---- dropping
is(q1("SELECT shopify_drop_resource('draft_orders')"), 't', 'a declared resource is dropped');
is(q1("SELECT count(*) FROM shopify.objects WHERE resource = 'draft_orders'"), 0, 'with its objects');
is(q1("SELECT resources FROM shopify.stores WHERE shop_id = $sid"), '{products}', 'and out of the store\'s resources');
is(q1("SELECT shopify_drop_resource('draft_orders')"), 'f', 'dropping it again: false');

done_testing();
