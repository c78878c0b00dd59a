# The rest of the store: locations, inventory levels (2,000+ over 10
# locations), collections (custom and smart, their products in order),
# metafields of every type and of five kinds of owner, customers (opt-in,
# unicode names, personal data only when allowed) — synced all at once over
# GraphQL pages and through bulk operations, full and incremental, exact
# field by field against the stand-in; deletes seen; webhooks applied out of
# order and never back in time; customers/redact and data_request; faults
# and kill -9 in the middle; row security between two roles.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use Digest::SHA qw(hmac_sha256_base64);
use JSON::PP;
use ShopifySyncNode;
use ShopifyStandin;

my $secret = 'store-webhook-secret-' . int(rand(1e9));
my $shop = ShopifyStandin::make_shop(domain => 'wholestore.myshopify.com', products => 400,
	variants_min => 1, variants_max => 4, seed => 11, bucket => undef, graphql => undef,
	orders      => { count => 150, seed => 3, days => 200 },
	locations   => { count => 10, inactive => 1, seed => 2 },
	inventory   => { locations_per_item => [1, 10], seed => 2 },
	collections => { count => 30, smart => 0.3, products_max => 150, seed => 2 },
	metafields  => { per_product => [0, 4], per_variant => [0, 2], per_order => [0, 2],
		per_customer => [0, 2], shop => 12, seed => 2 },
	customers   => { count => 200, seed => 2 });
my $standin = ShopifyStandin->start(config => { shops => [$shop] },
	dir => PostgreSQL::Test::Utils::tempdir());
my $D = $shop->{domain};
my $node = new_sync_node('store', api => 'graphql', base_url => $standin->base_url, conf => <<"EOF");
shopify_sync.webhook_secret = '$secret'
shopify_sync.bulk_threshold = -1
shopify_sync.max_concurrent_syncs = 8
restart_after_crash = on
EOF
my $sid = connect_shop($node, $shop);
my $json = JSON::PP->new->utf8->canonical;

sub q1 { return $node->safe_psql('app', $_[0]); }

my @ALL = qw(products orders locations inventory_levels collections product_metafields
  variant_metafields order_metafields shop_metafields customers customer_metafields);

# ---- field by field: the mirror's active rows against the stand-in's expected rows
my %COLS = (
	locations => [qw(location_id:int name:text active:bool fulfills_online_orders:bool address1:text
		  address2:text city:text province:text province_code:text country:text country_code:text
		  zip:text created_at:ts updated_at:ts)],
	inventory_levels => [qw(inventory_item_id:int location_id:int available:int on_hand:int
		  committed:int incoming:int reserved:int updated_at:ts)],
	collections => [qw(collection_id:int title:text handle:text kind:text sort_order:text
		  updated_at:ts rules=sources:jsonb)],
	collection_products => [qw(collection_id:int product_id:int position:int)],
	metafields => [qw(metafield_id:int owner_type:text owner_id:int namespace:text key:text
		  type:text value:text value_json:jsonb updated_at:ts)],
	customers => [qw(customer_id:int state:text created_at:ts updated_at:ts number_of_orders:int
		  amount_spent:num currency:text tags:text email:text first_name:text last_name:text)],
);
my %PERSONAL = map { $_ => 1 } qw(email first_name last_name);
my $personal = 0;
my $fileno = 0;

# { expected, mirrored, missing, extra, example } for one table
sub store_diff
{
	my ($table, %o) = @_;
	my $q = "table=$table" . ($o{owner_type} ? "&owner_type=$o{owner_type}" : '');
	my $file = ShopifySyncNode::expected_file($node, $standin, $D, "store_expected?$q", 'store_' . $table . '_' . ++$fileno);
	my (@m, @e);
	for my $c (@{ $COLS{$table} })
	{
		my ($name, $type) = split /:/, $c;
		my ($col, $exp) = split /=/, $name;
		$exp //= $col;
		push @m, "'$col', " . ($type eq 'ts' ? "to_char(t.$col AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')" : "t.$col");
		my $ev = $type eq 'ts' ? "r->>'$exp'" : $type eq 'int' ? "(r->>'$exp')::bigint"
		  : $type eq 'num' ? "(r->>'$exp')::numeric" : $type eq 'bool' ? "(r->>'$exp')::boolean"
		  : $type eq 'jsonb' ? "r->'$exp'" : "r->>'$exp'";
		$ev = 'NULL::text' if $PERSONAL{$col} && !$personal;
		push @e, "'$col', $ev";
	}
	my $scope = $o{owner_type} ? "AND t.owner_type = '$o{owner_type}'" : '';
	my $r = $json->decode(q1(<<"SQL"));
WITH e AS (SELECT jsonb_build_object(@{[ join(', ', @e) ]}) AS j
             FROM jsonb_array_elements(pg_read_file('$file')::jsonb->'rows') r),
     m AS (SELECT jsonb_build_object(@{[ join(', ', @m) ]}) AS j
             FROM shopify.$table t WHERE t.shop_id = $sid AND t.is_active $scope)
SELECT json_build_object('expected', (SELECT count(*) FROM e), 'mirrored', (SELECT count(*) FROM m),
  'missing', (SELECT count(*) FROM (SELECT j FROM e EXCEPT ALL SELECT j FROM m) x),
  'extra', (SELECT count(*) FROM (SELECT j FROM m EXCEPT ALL SELECT j FROM e) x),
  'example', (SELECT json_build_object('want', (SELECT j FROM (SELECT j FROM e EXCEPT ALL SELECT j FROM m) x LIMIT 1),
                                       'got', (SELECT j FROM (SELECT j FROM m EXCEPT ALL SELECT j FROM e) x LIMIT 1))))
SQL
	return $r;
}

sub exact
{
	my ($what, %o) = @_;
	for my $t (qw(locations inventory_levels collections collection_products customers))
	{
		my $d = store_diff($t);
		ok($d->{expected} > 0 && $d->{missing} == 0 && $d->{extra} == 0,
			"$what: $t exact ($d->{expected} rows; missing $d->{missing}, extra $d->{extra})")
		  or diag(explain($d->{example}));
	}
	for my $owner (qw(product variant order customer shop))
	{
		my $d = store_diff('metafields', owner_type => $owner);
		ok($d->{expected} > 0 && $d->{missing} == 0 && $d->{extra} == 0,
			"$what: metafields of each $owner exact ($d->{expected}; missing $d->{missing}, extra $d->{extra})")
		  or diag(explain($d->{example}));
	}
}

# Sync these resources at once; true when every job completed.
sub sync_all
{
	my ($full, @res) = @_;
	@res = @ALL unless @res;
	my $arr = '{' . join(',', @res) . '}';
	my @jobs = split /\n/, q1("SELECT id FROM shopify_sync($sid, '$arr', $full)");
	my $ok = 1;
	for my $j (@jobs)
	{
		my $row = wait_job($node, $j, 240);
		if ($row->{status} ne 'completed')
		{
			diag("job $j ($row->{resource}): $row->{status} $row->{error}");
			$ok = 0;
		}
	}
	return $ok;
}

sub sign
{
	my $s = hmac_sha256_base64($_[0], $secret);
	$s .= '=' while length($s) % 4;
	return $s;
}

my $wseq = 0;
# Deliver webhooks ({topic, payload}) as Shopify signs them; returns the event ids.
sub deliver
{
	my @ids;
	for my $w (@_)
	{
		my $body = $json->encode($w->{payload});
		my $tag = '$b' . int(rand(1e6)) . '$';
		push @ids, q1("SELECT shopify_receive_webhook('$w->{topic}', '$D', '" . sign($body)
			  . "', ${tag}${body}${tag}, 'store-wh-$$-" . ++$wseq . "')");
	}
	return @ids;
}

sub wait_events
{
	return wait_until(sub { q1("SELECT count(*) FROM shopify.webhook_events WHERE shop_id = $sid AND NOT processed") eq '0' }, 60);
}

# ---- opt-in: customers are personal data
is(q1("SELECT resources FROM shopify.stores WHERE shop_id = $sid"), '{products,orders}', 'a store syncs products and orders by default');
my ($rc, $out, $err) = $node->psql('app', "\\set VERBOSITY verbose\nSELECT * FROM shopify_sync($sid, '{customers}')");
like($err, qr/55000/, 'customers are refused (55000) until the store chooses them');
q1("SELECT shopify_set_store_resources($sid, '{" . join(',', @ALL) . "}')");

# ---- a full sync of everything at once, over GraphQL pages
my $t0 = time;
ok(sync_all('true'), sprintf('a full sync of %d resources at once completed (%.1f s, pages)', scalar(@ALL), time - $t0));
my $info = $standin->store_info($D);
cmp_ok($info->{inventory_levels}, '>=', 2000, "the store has $info->{inventory_levels} inventory levels over $info->{locations} locations");
my $ntypes = scalar(@{ $info->{metafield_types} });
is(q1("SELECT count(DISTINCT type) FROM shopify.metafields WHERE shop_id = $sid"), $ntypes,
	"every one of the $ntypes metafield types is mirrored");
exact('pages, first full sync');
is(q1("SELECT count(*) FROM shopify.customers WHERE shop_id = $sid AND (email IS NOT NULL OR first_name IS NOT NULL OR last_name IS NOT NULL)"),
	'0', 'no personal data stored while shopify_sync.customer_personal_data is off');
is(q1("SELECT count(*) FROM shopify.sync_jobs WHERE shop_id = $sid AND api = 'graphql' AND path_reason LIKE 'pages%'"),
	scalar(@ALL), 'each job took pages (bulk_threshold = -1), and says why');
is(q1("SELECT count(*) FROM shopify.orders WHERE shop_id = $sid AND customer_id IS NOT NULL") > 0 ? 1 : 0, 1,
	'orders name their customers');
is(q1("SELECT count(*) FROM shopify.orders o WHERE shop_id = $sid AND customer_id IS NOT NULL"
	  . " AND NOT EXISTS (SELECT 1 FROM shopify.customers c WHERE c.shop_id = o.shop_id AND c.customer_id = o.customer_id)"),
	'0', 'and each of them is a mirrored customer');
is(q1("SELECT count(*) FROM shopify.products p WHERE shop_id = $sid AND is_active AND inventory_quantity IS DISTINCT FROM"
	  . " (SELECT coalesce(sum(available), 0) FROM shopify.inventory_levels l WHERE l.shop_id = p.shop_id"
	  . "  AND l.inventory_item_id = p.inventory_item_id)"),
	'0', 'each variant\'s inventory_quantity is the sum of its levels\' available');

# ---- statistics
my $st = $json->decode(q1("SELECT shopify_store_stats($sid)"));
is($st->{location_count}, q1("SELECT count(*) FROM shopify.locations WHERE shop_id = $sid AND is_active"), 'stats: location_count');
is($st->{collection_count}, $info->{collections}, 'stats: collection_count');
is($st->{customer_count}, 200, 'stats: customer_count');
is(scalar(@{ $st->{inventory_by_location} }), $st->{location_count}, 'stats: inventory_by_location names every location');
my %by_loc = map { $_->{location_id} => $_->{available} } @{ $st->{inventory_by_location} };
my %want_loc;
$want_loc{ $_->{location_id} } += $_->{available} // 0 for @{ $standin->store_expected($D, 'inventory_levels') };
is_deeply({ map { $_ => $by_loc{$_} } grep { $by_loc{$_} } keys %by_loc },
	{ map { $_ => $want_loc{$_} } grep { $want_loc{$_} } keys %want_loc }, 'stats: units available per location, exact');
my $custs = $standin->store_expected($D, 'customers');
my ($buyers, $repeat) = (0, 0);
for (@$custs) { $buyers++ if $_->{number_of_orders} > 0; $repeat++ if $_->{number_of_orders} > 1; }
is($st->{repeat_customer_rate} + 0, $buyers ? 0 + sprintf('%.4f', $repeat / $buyers) : 0,
	"stats: repeat_customer_rate ($repeat of $buyers who ordered)");

# ---- personal data when allowed
q1("ALTER SYSTEM SET shopify_sync.customer_personal_data = on");
$node->reload;
usleep(300_000);
ok(sync_all('true', 'customers'), 'a full customer sync with personal data allowed');
$personal = 1;
my $d = store_diff('customers');
ok($d->{missing} == 0 && $d->{extra} == 0, "customers exact with email and (unicode) names ($d->{expected})")
  or diag(explain($d->{example}));
ok(q1("SELECT count(*) FROM shopify.customers WHERE shop_id = $sid AND first_name ~ '[^\\x01-\\x7f]'") > 0,
	'unicode names kept as they are');
q1("ALTER SYSTEM RESET shopify_sync.customer_personal_data");
$node->reload;
usleep(300_000);
ok(sync_all('true', 'customers'), 'a full customer sync with personal data off again');
$personal = 0;
is(q1("SELECT count(*) FROM shopify.customers WHERE shop_id = $sid AND (email IS NOT NULL OR first_name IS NOT NULL OR last_name IS NOT NULL)"),
	'0', 'the stored personal data is cleared by that sync');

# ---- changes, then an incremental sync; a full sync sees the deletes
my $levels = $standin->store_expected($D, 'inventory_levels');
my $colls = $standin->store_expected($D, 'collections');
my $members = $standin->store_expected($D, 'collection_products');
my %nmembers;
$nmembers{ $_->{collection_id} }++ for @$members;
# custom collections with products, the manual ones first
my @custom = sort { ($b->{sort_order} eq 'manual') <=> ($a->{sort_order} eq 'manual') || $a->{collection_id} <=> $b->{collection_id} }
  grep { $_->{kind} eq 'custom' && ($nmembers{ $_->{collection_id} } // 0) > 2 } @$colls;
my @smart = grep { $_->{kind} eq 'smart' } @$colls;
cmp_ok(scalar(@custom), '>=', 8, 'custom collections with products to change');
is($custom[0]{sort_order}, 'manual', 'a manual one among them');
my ($m1) = grep { $_->{collection_id} == $custom[1]{collection_id} } @$members;
my $mf = $standin->store_expected($D, 'metafields', owner_type => 'product');
my @ops = (
	{ op => 'set_level', item => $levels->[0]{inventory_item_id}, location => $levels->[0]{location_id}, available => 77 },
	{ op => 'set_level', item => $levels->[5]{inventory_item_id}, location => $levels->[5]{location_id}, available => -4 },
	{ op => 'remove_from_collection', collection => $m1->{collection_id}, product => $m1->{product_id} },
	{ op => 'reorder_collection', collection => $custom[0]{collection_id},
	  product => (grep { $_->{collection_id} == $custom[0]{collection_id} } @$members)[-1]{product_id}, position => 1 },
	{ op => 'update_collection', id => $smart[0]{collection_id}, title => 'Renamed smart collection',
	  rules => [ { column => 'TITLE', relation => 'CONTAINS', condition => 'a' } ], disjunctive => JSON::PP::false },
	{ op => 'set_metafield', owner_type => 'product', owner_id => $mf->[0]{owner_id}, namespace => 'custom',
	  key => 'changed', type => 'json', value => '{"changed": [1, 2, 3]}' },
	{ op => 'update_customer', id => $custs->[3]{customer_id}, first_name => 'Zoë', tags => 'vip' },
	{ op => 'add_customer' },
	{ op => 'update_location', id => (grep { $_->{active} } @{ $standin->store_expected($D, 'locations') })[0]{location_id}, name => 'Renamed 倉庫' },
);
my $mut = $standin->store_mutate($D, \@ops);
ok(sync_all('false', grep { $_ ne 'locations' && $_ ne 'shop_metafields' } @ALL), 'an incremental sync of every resource that has one');
ok(sync_all('true', 'locations', 'shop_metafields'), 'locations and the shop\'s metafields are listed whole every time');
exact('after changes and an incremental sync');
is(q1("SELECT count(*) FROM shopify.collection_products WHERE shop_id = $sid AND collection_id = $m1->{collection_id} AND product_id = $m1->{product_id}"),
	'0', 'a product taken out of a collection left the membership table (incremental)');

my $del_coll = $custom[3]{collection_id};
my $del_mf = $mf->[1]{metafield_id};
my $del_item = $levels->[10]{inventory_item_id};
my $del_cust = (grep { $_->{number_of_orders} == 0 } @$custs)[0]{customer_id};
$standin->store_mutate($D, [
	{ op => 'delete_collection', id => $del_coll },
	{ op => 'delete_metafield', id => $del_mf },
	{ op => 'delete_inventory_item', item => $del_item },
	{ op => 'delete_customer', id => $del_cust },
	{ op => 'delete_location', id => (grep { !$_->{active} } @{ $standin->store_expected($D, 'locations') })[0]{location_id} },
]);
ok(sync_all('true'), 'a full sync of everything after deletes');
exact('after deletes and a full sync');
is(q1("SELECT is_active FROM shopify.collections WHERE shop_id = $sid AND collection_id = $del_coll"), 'f',
	'the deleted collection is inactive');
is(q1("SELECT count(*) FROM shopify.collection_products WHERE shop_id = $sid AND collection_id = $del_coll"), '0',
	'and its memberships are gone');
is(q1("SELECT count(*) FROM shopify.metafields WHERE shop_id = $sid AND metafield_id = $del_mf"), '0', 'the deleted metafield is gone');
is(q1("SELECT count(*) FROM shopify.inventory_levels WHERE shop_id = $sid AND inventory_item_id = $del_item"), '0',
	'the deleted inventory item\'s levels are gone');
is(q1("SELECT is_active FROM shopify.customers WHERE shop_id = $sid AND customer_id = $del_cust"), 'f', 'the deleted customer is inactive');
my $unchanged = q1("SELECT sum(variants_unchanged) FROM shopify.sync_jobs WHERE id IN (SELECT max(id) FROM shopify.sync_jobs WHERE shop_id = $sid GROUP BY resource)");
cmp_ok($unchanged, '>', 1000, "rows that did not change were not rewritten ($unchanged unchanged)");

# ---- the same through bulk operations
q1("ALTER SYSTEM SET shopify_sync.bulk_threshold = '0'");
$node->reload;
usleep(300_000);
$standin->store_mutate($D, [
	{ op => 'set_level', item => $levels->[20]{inventory_item_id}, location => $levels->[20]{location_id}, on_hand => 90 },
	{ op => 'add_to_collection', collection => $custom[4]{collection_id}, product => $m1->{product_id} },
	{ op => 'add_collection', smart => JSON::PP::true, rules => [ { column => 'VENDOR', relation => 'EQUALS', condition => 'Acme' } ] },
]);
ok(sync_all('true'), 'a full sync of everything through bulk operations');
is(q1("SELECT count(*) FROM shopify.sync_jobs WHERE shop_id = $sid AND api = 'bulk' AND status = 'completed'"
	  . " AND id > (SELECT max(id) - " . scalar(@ALL) . " FROM shopify.sync_jobs WHERE shop_id = $sid)"),
	scalar(grep { $_ ne 'locations' && $_ ne 'shop_metafields' } @ALL), 'every resource that can be exported took a bulk operation');
exact('bulk');
q1("ALTER SYSTEM SET shopify_sync.bulk_threshold = '-1'");
$node->reload;
usleep(300_000);

# ---- webhooks, out of order and never back in time
my $w1 = $standin->store_mutate($D, [
	{ op => 'set_level', item => $levels->[30]{inventory_item_id}, location => $levels->[30]{location_id}, available => 11 } ])->{webhooks};
my $w2 = $standin->store_mutate($D, [
	{ op => 'set_level', item => $levels->[30]{inventory_item_id}, location => $levels->[30]{location_id}, available => 12 } ])->{webhooks};
my ($lvl1) = grep { $_->{topic} eq 'inventory_levels/update' } @$w1;
my ($lvl2) = grep { $_->{topic} eq 'inventory_levels/update' } @$w2;
deliver($lvl2, $lvl1);   # the newer first
ok(wait_events(), 'webhooks applied');
is(q1("SELECT available FROM shopify.inventory_levels WHERE shop_id = $sid AND inventory_item_id = $levels->[30]{inventory_item_id}"
	  . " AND location_id = $levels->[30]{location_id}"), '12', 'an older inventory update delivered after a newer one changes nothing');
my $wc = $standin->store_mutate($D, [
	{ op => 'update_collection', id => $custom[5]{collection_id}, title => 'Webhook title' },
	{ op => 'update_customer', id => $custs->[7]{customer_id}, tags => 'hooked' },
	{ op => 'add_location' },
	{ op => 'delete_collection', id => $custom[6]{collection_id} },
	{ op => 'delete_inventory_item', item => $levels->[40]{inventory_item_id} },
	{ op => 'delete_level', item => $levels->[45]{inventory_item_id}, location => $levels->[45]{location_id} },
])->{webhooks};
deliver(reverse @$wc);
ok(wait_events(), 'collection, customer, location and inventory webhooks applied');
is(q1("SELECT title FROM shopify.collections WHERE shop_id = $sid AND collection_id = $custom[5]{collection_id}"), 'Webhook title',
	'collections/update applied');
is(q1("SELECT tags FROM shopify.customers WHERE shop_id = $sid AND customer_id = $custs->[7]{customer_id}"), 'hooked',
	'customers/update applied');
is(q1("SELECT is_active FROM shopify.collections WHERE shop_id = $sid AND collection_id = $custom[6]{collection_id}"), 'f',
	'collections/delete deactivated the collection');
is(q1("SELECT count(*) FROM shopify.inventory_levels WHERE shop_id = $sid AND inventory_item_id = $levels->[40]{inventory_item_id}"),
	'0', 'inventory_items/delete removed the item\'s levels');
is(q1("SELECT count(*) FROM shopify.inventory_levels WHERE shop_id = $sid AND inventory_item_id = $levels->[45]{inventory_item_id}"
	  . " AND location_id = $levels->[45]{location_id}"), '0', 'inventory_levels/disconnect removed the level');
is(q1("SELECT count(*) FROM shopify.webhook_events WHERE shop_id = $sid AND error IS NOT NULL"), '0', 'no event failed');
ok(sync_all('true'), 'a full sync after the webhooks');
exact('after webhooks and a full sync');

# ---- faults, and kill -9 in the middle
$standin->faults({ shop => $D, rate => 0.08, kinds => [qw(500 502 503 429 reset truncated)], seed => 5 });
$standin->store_mutate($D, [ map { { op => 'set_level', item => $levels->[$_]{inventory_item_id},
	location => $levels->[$_]{location_id}, available => 100 + $_ } } 50 .. 60 ]);
# a restore rate that makes the listing take seconds, so the kill lands in it
$standin->set_graphql($D, { maximum => 1000, restore => 800 });
my @jobs = split /\n/, q1("SELECT id FROM shopify_sync($sid, '{inventory_levels,collections,product_metafields,customers}')");
wait_until(sub { q1("SELECT count(*) FROM shopify.sync_jobs WHERE id IN (" . join(',', @jobs) . ") AND pages_fetched >= 2") > 0 }, 30);
usleep(300_000);
my $stage = q1("SELECT string_agg(resource || ' ' || status || ' after ' || pages_fetched || ' pages', ', ' ORDER BY id)"
	  . " FROM shopify.sync_jobs WHERE id IN (" . join(',', @jobs) . ")");
my $pid = worker_pid($node);
kill 'KILL', $pid if $pid;
ok(wait_for_worker_change($node, $pid, 60), "the worker killed mid-sync ($stage) is replaced");
my $all_done = 1;
for my $j (@jobs)
{
	my $row = wait_job($node, $j, 240);
	$all_done = 0 unless $row->{status} eq 'completed';
	diag("job $j: $row->{status} $row->{error}") unless $row->{status} eq 'completed';
}
ok($all_done, 'with faults and a kill -9, every job completed');
$standin->faults({ rate => 0 });
$standin->set_graphql($D, { enabled => JSON::PP::false });
cmp_ok(q1("SELECT max(attempts) FROM shopify.sync_jobs WHERE id IN (" . join(',', @jobs) . ")"), '>=', 2,
	'a job interrupted by the kill was resumed');
exact('after faults and kill -9');

# ---- customers/redact and customers/data_request
my $victim = q1("SELECT customer_id FROM shopify.customers c WHERE shop_id = $sid AND is_active"
	  . " AND EXISTS (SELECT 1 FROM shopify.orders o WHERE o.shop_id = c.shop_id AND o.customer_id = c.customer_id)"
	  . " AND EXISTS (SELECT 1 FROM shopify.metafields m WHERE m.shop_id = c.shop_id AND m.owner_type = 'customer' AND m.owner_id = c.customer_id)"
	  . " ORDER BY customer_id LIMIT 1");
ok($victim ne '', "a customer with orders and metafields ($victim)");
my ($req) = deliver({ topic => 'customers/data_request', payload => { shop_id => 1, shop_domain => $D,
	orders_requested => [], customer => { id => 0 + $victim, email => 'someone@example.com' }, data_request => { id => 9 } } });
ok(wait_events(), 'the data request is processed');
like(q1("SELECT note FROM shopify.webhook_events WHERE id = $req"), qr/shopify_customer_data\($sid, $victim\)/,
	'and names the call that answers it');
my $data = $json->decode(q1("SELECT shopify_customer_data($sid, $victim)"));
is($data->{customer}{customer_id}, $victim, 'shopify_customer_data: the customer');
cmp_ok(scalar(@{ $data->{orders} }), '>', 0, 'their orders, with lines') and ok(exists $data->{orders}[0]{lines}, 'lines included');
cmp_ok(scalar(@{ $data->{metafields} }), '>', 0, 'their metafields');
deliver({ topic => 'customers/redact', payload => { shop_id => 1, shop_domain => $D,
	customer => { id => 0 + $victim, email => 'someone@example.com', phone => '+100' }, orders_to_redact => [] } });
ok(wait_events(), 'the redact request is processed');
is(q1("SELECT count(*) FROM shopify.customers WHERE shop_id = $sid AND customer_id = $victim"), '0', 'redact: the customer row is gone');
is(q1("SELECT count(*) FROM shopify.metafields WHERE shop_id = $sid AND owner_type = 'customer' AND owner_id = $victim"), '0',
	'redact: their metafields are gone');
is(q1("SELECT count(*) FROM shopify.orders WHERE shop_id = $sid AND customer_id = $victim"), '0', 'redact: no order names them');
is(q1("SELECT count(*) FROM shopify.webhook_events WHERE shop_id = $sid AND payload::text LIKE '%someone\@example.com%'"), '0',
	'redact: no stored delivery holds their details');
my $after = $json->decode(q1("SELECT shopify_customer_data($sid, $victim)"));
ok(!defined $after->{customer} && !@{ $after->{orders} } && !@{ $after->{metafields} }, 'nothing is held about them any more');

# ---- row security: another role sees none of it
q1("CREATE ROLE other_owner LOGIN");
for my $t (qw(locations inventory_levels collections collection_products metafields customers))
{
	is(q1("SET ROLE other_owner; SELECT count(*) FROM shopify.$t"), '0', "another role sees no row of shopify.$t");
}
cmp_ok(q1("SELECT count(*) FROM shopify.inventory_levels"), '>', 0, 'the superuser sees them');

# ---- disconnect: no row stays active
my $disc = q1("SELECT shopify_disconnect($sid)");
is(q1("SELECT count(*) FROM (SELECT is_active FROM shopify.locations WHERE shop_id = $sid UNION ALL"
	  . " SELECT is_active FROM shopify.inventory_levels WHERE shop_id = $sid UNION ALL"
	  . " SELECT is_active FROM shopify.collection_products WHERE shop_id = $sid UNION ALL"
	  . " SELECT is_active FROM shopify.metafields WHERE shop_id = $sid UNION ALL"
	  . " SELECT is_active FROM shopify.customers WHERE shop_id = $sid) x WHERE is_active"), '0',
	'after shopify_disconnect no row of the store is active');

done_testing();
