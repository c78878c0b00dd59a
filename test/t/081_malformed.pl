# Malformed Shopify payloads of every kind, each in isolation (one stand-in
# shop per case, the crafted answer on its second page): wrong types, huge
# strings, deep nesting, numbers beyond bigint/int, invalid UTF-8, \u0000 and
# raw NUL, truncated bodies, arrays and scalars instead of objects,
# duplicate keys, null and strings among products; REST and GraphQL pages,
# bulk JSONL, REST and GraphQL orders.  Each case either rejects the page
# (the job fails with a clear error of a payload class, or a one-off is
# retried) or counts the bad variant (order) failed and stores the rest;
# never anything corrupt: no NUL, no invalid UTF-8, no partially written
# page, the worker survives, and a clean sync makes every mirror exact.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use Time::HiRes qw(time);
use Time::Local qw(timegm);
use ShopifySyncNode;
use ShopifyStandin;

my $T0 = time();
my $V = $ShopifyStandin::API_VERSION;
my $PRODUCTS = "/admin/api/$V/products.json";
my $ORDERS = "/admin/api/$V/orders.json";
my $GQL = "/admin/api/$V/graphql.json";
my $PAGE = 10;        # rest_page_size = graphql_page_size
my $RETRIES = 1;      # shopify_sync.max_retries: a persistent bad page is fetched twice
my $MB = 1024 * 1024;

my $standin = ShopifyStandin->start(config => { shops => [] },
	dir => PostgreSQL::Test::Utils::tempdir());
my $node = new_sync_node('malformed', base_url => $standin->base_url, conf => <<"EOF");
shopify_sync.max_retries = $RETRIES
shopify_sync.rest_page_size = $PAGE
shopify_sync.graphql_page_size = $PAGE
shopify_sync.graphql_variants_per_product = 2
shopify_sync.http_timeout = '20s'
shopify_sync.bulk_threshold = 35
shopify_sync.max_concurrent_syncs = 32
EOF
my $worker = worker_pid($node);
my $b64 = \&ShopifyStandin::b64;

# Text that does not survive a UTF-8 round trip, or holds a NUL byte.
$node->safe_psql('app', <<'EOF');
CREATE SCHEMA malcheck;
CREATE FUNCTION malcheck.bytes_ok(b bytea) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  IF b IS NULL THEN RETURN true; END IF;
  IF position('\x00'::bytea IN b) > 0 THEN RETURN false; END IF;
  PERFORM convert_from(b, 'UTF8');
  RETURN true;
EXCEPTION WHEN OTHERS THEN RETURN false;
END $$;
CREATE FUNCTION malcheck.utf8_ok(t text) RETURNS boolean LANGUAGE sql
  AS $$ SELECT malcheck.bytes_ok(textsend(t)) $$;
-- per column: all values joined by newlines (which cannot complete a broken
-- sequence) checked at once; the rows are counted only when that fails
CREATE FUNCTION malcheck.bad_text() RETURNS TABLE (tbl text, col text, n bigint)
LANGUAGE plpgsql AS $$
DECLARE r record; b bytea;
BEGIN
  FOR r IN SELECT c.table_name, c.column_name FROM information_schema.columns c
             JOIN information_schema.tables t USING (table_schema, table_name)
            WHERE c.table_schema = 'shopify' AND t.table_type = 'BASE TABLE'
              AND c.data_type IN ('text', 'character varying', 'jsonb', 'json')
  LOOP
    EXECUTE format('SELECT string_agg(textsend(%I::text), ''\x0a''::bytea) FROM shopify.%I',
                   r.column_name, r.table_name) INTO b;
    CONTINUE WHEN malcheck.bytes_ok(b);
    RETURN QUERY EXECUTE format('SELECT %L, %L, count(*) FROM shopify.%I WHERE NOT malcheck.utf8_ok(%I::text)',
                                r.table_name, r.column_name, r.table_name, r.column_name);
  END LOOP;
END $$;
EOF

sub iso_epoch
{
	my ($s) = @_;
	my ($y, $mo, $d, $h, $mi, $se, $z) = $s =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)(?:\.\d+)?(Z|[+-]\d\d:?\d\d)$/
	  or die "not a timestamp: $s";
	my $t = timegm($se, $mi, $h, $d, $mo - 1, $y);
	if ($z ne 'Z')
	{
		my ($sign, $oh, $om) = $z =~ /^([+-])(\d\d):?(\d\d)$/;
		$t -= ($sign eq '-' ? -1 : 1) * ($oh * 3600 + $om * 60);
	}
	return $t;
}

# ---------------------------------------------------------------- cases
#
# A case: name, api (rest|graphql), resource (products|orders), edit (a sub
# building the injection rule from the case's victim), expect:
#   failed  => n, missing => sub -> [sku_ids] (page stored, victims failed)
#   reject  => { class => qr, error => qr } (persistent: job failed)
#   retried => 1 (one-off: job completed after fetching the page again)
#   check   => sub ($case, $job) for anything else.
my @cases;
my $seq = 0;
my $vrows;            # victims' stored rows, read after the syncs

sub add_case { push @cases, {@_}; }

# Victim product / variant / order on the second page, per API order.
sub setup_case
{
	my ($c) = @_;
	my $tag = sprintf('m%02d-%s', ++$seq, $c->{name});
	$tag =~ s/_/-/g;
	my %orders = $c->{resource} eq 'orders' ? (orders => { count => 30, seed => $seq, lines_max => 4 }) : ();
	my $shop = ShopifyStandin::make_shop(domain => "$tag.myshopify.com",
		products => $c->{products} // 30, variants_min => 1, variants_max => 4,
		bucket => undef, graphql => undef, seed => 100 + $seq, %orders);
	$standin->add_shop($shop);
	$c->{shop} = $shop;
	my $gql = $c->{api} ne 'rest';
	if ($c->{resource} eq 'products')
	{
		my $rows = $standin->expected($shop->{domain}, $gql ? 'graphql' : 'rest');
		my (%prod, @order);
		for my $r (@$rows)
		{
			push @order, $r->{product_id} unless $prod{ $r->{product_id} };
			push @{ $prod{ $r->{product_id} } }, $r;
		}
		@order = sort {
			iso_epoch($prod{$a}[0]{product_updated_at}) <=> iso_epoch($prod{$b}[0]{product_updated_at}) || $a <=> $b
		} @order if $gql;
		my @page2 = @order[ $PAGE .. 2 * $PAGE - 1 ];
		my $pick = $c->{pick} // sub { 1 };
		my ($p) = grep { $pick->($prod{$_}, \@page2, \%prod) } @page2;
		die "$tag: no victim product" unless $p;
		$c->{rows} = $rows;
		$c->{prod} = \%prod;
		$c->{victim_product} = $p;
		$c->{victim} = $prod{$p}[0]{sku_id};
		$c->{page1} = [ @order[ 0 .. $PAGE - 1 ] ];
	}
	else
	{
		my $exp = $standin->orders_expected($shop->{domain});
		my @os = @{ $exp->{orders} };
		@os = sort { iso_epoch($a->{updated_at}) <=> iso_epoch($b->{updated_at}) || $a->{order_id} <=> $b->{order_id} } @os
		  if $gql;
		my ($o) = grep { $_->{line_item_count} >= 2 } @os[ $PAGE .. 2 * $PAGE - 1 ];
		die "$tag: no victim order" unless $o;
		my ($line) = grep { $_->{order_id} == $o->{order_id} } @{ $exp->{lines} };
		$c->{victim_order} = $o->{order_id};
		$c->{victim_line} = $line->{line_id};
	}
	my $rule = $c->{edit}->($c);
	$standin->inject($shop->{domain}, $rule) if $rule;
}

# Path to a field of the victim variant (order line), and the rule around edits.
sub vpath
{
	my ($c, $field) = @_;
	return [ 'products', { id => $c->{victim_product} }, 'variants', { id => $c->{victim} }, $field ]
	  if $c->{api} eq 'rest';
	return [ qw(data products nodes), { id => $c->{victim_product} }, qw(variants nodes),
		{ id => $c->{victim} }, $field ];
}

sub lpath
{
	my ($c, $field) = @_;
	return [ 'orders', { id => $c->{victim_order} }, 'line_items', { id => $c->{victim_line} }, $field ]
	  if $c->{api} eq 'rest';
	return [ qw(data orders nodes), { id => $c->{victim_order} }, qw(lineItems nodes),
		{ id => $c->{victim_line} }, $field ];
}

sub opath
{
	my ($c, $field) = @_;
	return [ 'orders', { id => $c->{victim_order} }, $field ] if $c->{api} eq 'rest';
	return [ qw(data orders nodes), { id => $c->{victim_order} }, $field ];
}

# The rule: answers of the victim's page (times => n: also its refetches).
sub on_page
{
	my ($c, $resp, %o) = @_;
	my $orders = $c->{resource} eq 'orders';
	my $key = $orders ? $c->{victim_order} : $c->{victim_product};
	return {
		path_prefix => $c->{api} eq 'rest' ? ($orders ? $ORDERS : $PRODUCTS) : $GQL,
		($c->{api} eq 'rest' ? () : (operation => $orders ? 'ShopifySyncOrders' : 'ShopifySyncProducts')),
		body_contains => "$key",
		responses => [$resp],
		times => $o{times} // 1,
	};
}

sub edit_page
{
	my ($c, $edits, %o) = @_;
	return on_page($c, { edits => $edits, map { exists $o{$_} ? ($_ => $o{$_}) : () } qw(truncate append) }, %o);
}

my $PERSIST = $RETRIES + 1;
my %gname = (price => 'price', inventory_quantity => 'inventoryQuantity', id => 'id', title => 'title', sku => 'sku');
sub fld { my ($c, $f) = @_; return $c->{api} eq 'rest' ? $f : $gname{$f}; }
sub victim_only { my ($c) = @_; return [ $c->{victim} ]; }

for my $api (qw(rest graphql))
{
	# ---- a variant with a value of the wrong type, out of range, too long: that variant fails
	add_case(name => "${api}_price_object", api => $api, resource => 'products',
		edit => sub { edit_page($_[0], [ { path => vpath($_[0], 'price'), value => { amount => '1.00', currency_code => 'USD' } } ]) },
		failed => 1, missing => \&victim_only, reason => qr/price is not a decimal number/);
	add_case(name => "${api}_quantity_string", api => $api, resource => 'products',
		edit => sub { edit_page($_[0], [ { path => vpath($_[0], fld($_[0], 'inventory_quantity')), value => 'abc' } ]) },
		failed => 1, missing => \&victim_only, reason => qr/inventory_quantity is not a 32-bit integer/);
	add_case(name => "${api}_id_string", api => $api, resource => 'products',
		edit => sub { edit_page($_[0], [ { path => vpath($_[0], 'id'),
			value => $api eq 'rest' ? 'abc' : 'gid://shopify/ProductVariant/abc' } ]) },
		failed => 1, missing => \&victim_only, reason => qr/variant id missing or not a positive 64-bit integer/);
	add_case(name => "${api}_title_number", api => $api, resource => 'products',
		edit => sub { edit_page($_[0], [ { path => vpath($_[0], 'title'), raw => '42' } ]) },
		failed => 1, missing => \&victim_only, reason => qr/variant title is not a string/);
	add_case(name => "${api}_sku_10MB", api => $api, resource => 'products',
		edit => sub { edit_page($_[0], [ { path => vpath($_[0], 'sku'), string_parts => [ [ 'x', 10 * $MB ] ] } ]) },
		failed => 1, missing => \&victim_only, reason => qr/sku is not a string of at most 64 kB/);
	add_case(name => "${api}_id_beyond_bigint", api => $api, resource => 'products',
		edit => sub { edit_page($_[0], [ { path => vpath($_[0], 'id'),
			($api eq 'rest' ? (raw => '99999999999999999999') : (value => 'gid://shopify/ProductVariant/99999999999999999999')) } ]) },
		failed => 1, missing => \&victim_only, reason => qr/variant id missing or not a positive 64-bit integer/);
	add_case(name => "${api}_quantity_1e400", api => $api, resource => 'products',
		edit => sub { edit_page($_[0], [ { path => vpath($_[0], fld($_[0], 'inventory_quantity')), raw => '1e400' } ]) },
		failed => 1, missing => \&victim_only, reason => qr/inventory_quantity is not a 32-bit integer/);
	# duplicate keys: the last one counts (as in jsonb), nothing else changes
	add_case(name => "${api}_duplicate_key", api => $api, resource => 'products',
		edit => sub {
			my $c = $_[0];
			my $p = vpath($c, 'price');
			pop @$p;
			edit_page($c, [ { op => 'add_key', path => $p, key => 'price', value => '1234.56' } ]);
		},
		check => sub {
			my ($c, $job, $ps) = @_;
			is($job->{status} . '/' . $job->{variants_failed}, 'completed/0', "$c->{name}: page stored, nothing failed");
			is($vrows->{ $c->{victim} }{price}, 1234.56,
				"$c->{name}: the last of the duplicate keys is stored (as jsonb would read it)");
			is_deeply([ $ps->{missing}, $ps->{extra} ], [ [ $c->{victim} ], 0 ],
				"$c->{name}: every other row exact");
		});
	# null and a string among the products: the string is counted failed, null skipped
	add_case(name => "${api}_products_null_string", api => $api, resource => 'products',
		edit => sub {
			my $c = $_[0];
			my $arr = $api eq 'rest' ? ['products'] : [qw(data products nodes)];
			edit_page($c, [ { op => 'insert', path => [ @$arr, 1 ], value => undef },
				{ op => 'insert', path => [ @$arr, 3 ], value => 'not a product' } ]);
		},
		failed => 1, missing => sub { [] }, reason => qr/product is not an object/);
	# deep nesting inside a variant, and far beyond the stack at the top
	add_case(name => "${api}_nested_10000", api => $api, resource => 'products',
		edit => sub { edit_page($_[0], [ { path => vpath($_[0], 'price'), raw_parts => [ [ '[', 10000 ], [ ']', 10000 ] ] } ], times => $PERSIST) },
		reject => { class => qr/^payload$/, error => qr/nest/ });
	add_case(name => "${api}_nested_200000", api => $api, resource => 'products',
		edit => sub { edit_page($_[0], [ { path => ['deep'], raw_parts => [ [ '{"a":', 200000 ], [ '1', 1 ], [ '}', 200000 ] ] } ], times => $PERSIST) },
		reject => { class => qr/^payload$/, error => qr/nest/ });
	# \u0000, a raw NUL, invalid UTF-8, a lone surrogate inside a string
	add_case(name => "${api}_nul_escape", api => $api, resource => 'products',
		edit => sub { edit_page($_[0], [ { path => vpath($_[0], 'title'), raw => '"Bad\u0000Title"' } ], times => $PERSIST) },
		reject => { class => qr/^payload$/, error => qr/\\u0000|not valid JSON|Unicode/ });
	add_case(name => "${api}_raw_nul", api => $api, resource => 'products',
		edit => sub { edit_page($_[0], [ { path => vpath($_[0], 'title'), string_b64 => $b64->("Bad\x00Title") } ], times => $PERSIST) },
		reject => { class => qr/^(invalid_json|payload)$/, error => qr/not valid JSON|NUL/ });
	add_case(name => "${api}_invalid_utf8", api => $api, resource => 'products',
		edit => sub { edit_page($_[0], [ { path => vpath($_[0], 'sku'), string_b64 => $b64->("ok\xff\xfe\xc0\xaf\xed\xa0\x80") } ], times => $PERSIST) },
		reject => { class => qr/^(invalid_json|payload)$/, error => qr/not valid JSON|UTF-8/ });
	add_case(name => "${api}_lone_surrogate", api => $api, resource => 'products',
		edit => sub { edit_page($_[0], [ { path => vpath($_[0], 'sku'), raw => '"\ud800x"' } ], times => $PERSIST) },
		reject => { class => qr/^payload$/, error => qr/JSON|surrogate|Unicode/ });
	# the body itself
	add_case(name => "${api}_truncated", api => $api, resource => 'products',
		edit => sub { edit_page($_[0], [], truncate => -200, times => $PERSIST) },
		reject => { class => qr/^(invalid_json|payload)$/, error => qr/not valid JSON/ });
	add_case(name => "${api}_truncated_closed", api => $api, resource => 'products',
		edit => sub { edit_page($_[0], [], truncate => -200, append => '"}]}', times => $PERSIST) },
		reject => { class => qr/^payload$/, error => qr/JSON/ });
	add_case(name => "${api}_array_body", api => $api, resource => 'products',
		edit => sub { on_page($_[0], { body => '[{"products": []}]' }, times => $PERSIST) },
		reject => { class => qr/^payload$/, error => qr/no products|not a JSON object/ });
	add_case(name => "${api}_scalar_body", api => $api, resource => 'products',
		edit => sub { on_page($_[0], { body => '"products"' }, times => $PERSIST) },
		reject => { class => qr/^(invalid_json|payload)$/, error => qr/not valid JSON/ });
	# a bad page served once is fetched again, and the sync completes
	add_case(name => "${api}_invalid_utf8_once", api => $api, resource => 'products',
		edit => sub { edit_page($_[0], [ { path => vpath($_[0], 'title'), string_b64 => $b64->("\xff") } ]) },
		retried => 1);
}

# REST only: price 1e400, quantity beyond int, a string among the variants,
# a \u0000 served once (rejected when written, fetched again), > 64 MB
add_case(name => 'rest_price_1e400', api => 'rest', resource => 'products',
	edit => sub { edit_page($_[0], [ { path => vpath($_[0], 'price'), raw => '1e400' } ]) },
	failed => 1, missing => \&victim_only, reason => qr/price is not a decimal number/);
add_case(name => 'rest_quantity_beyond_int', api => 'rest', resource => 'products',
	edit => sub { edit_page($_[0], [ { path => vpath($_[0], 'inventory_quantity'), raw => '99999999999' } ]) },
	failed => 1, missing => \&victim_only, reason => qr/inventory_quantity is not a 32-bit integer/);
add_case(name => 'rest_variants_string', api => 'rest', resource => 'products',
	edit => sub { edit_page($_[0], [ { op => 'insert', path => [ 'products', { id => $_[0]{victim_product} }, 'variants', 0 ],
		value => 'not a variant' } ]) },
	failed => 1, missing => sub { [] }, reason => qr/variant is not an object/);
add_case(name => 'rest_nul_escape_once', api => 'rest', resource => 'products',
	edit => sub { edit_page($_[0], [ { path => vpath($_[0], 'title'), raw => '"\u0000"' } ]) },
	retried => 1);
add_case(name => 'rest_body_70MB', api => 'rest', resource => 'products',
	edit => sub { on_page($_[0], { body_parts => [ [ '{"products":[', 1 ], [ ' ', 70 * $MB ], [ ']}', 1 ] ] }) },
	reject => { class => qr/^too_large$/, error => qr/./ });

# GraphQL only: a product whose id is not a scalar, followed on its page by
# products with more variants than the page carried (their follow-up queries
# must still name the right product and cursor); hasNextPage without endCursor
add_case(name => 'graphql_product_id_object', api => 'graphql', resource => 'products',
	pick => sub {
		my ($rows, $page2, $prod) = @_;
		return 0 unless @$rows > 2;
		my $i = 0;
		$i++ while $prod->{ $page2->[$i] } != $rows;
		return scalar grep { @{ $prod->{$_} } > 2 } @$page2[ $i + 1 .. $#$page2 ];
	},
	edit => sub { edit_page($_[0], [ { path => [ qw(data products nodes), { id => $_[0]{victim_product} }, 'id' ],
		value => { gid => "gid://shopify/Product/$_[0]{victim_product}" } } ]) },
	failed => 2, missing => sub { [ map { $_->{sku_id} } @{ $_[0]{prod}{ $_[0]{victim_product} } } ] },
	reason => qr/product id missing/);
add_case(name => 'graphql_next_without_cursor', api => 'graphql', resource => 'products',
	edit => sub { edit_page($_[0], [ { path => 'data.products.pageInfo.endCursor', value => undef } ], times => $PERSIST) },
	reject => { class => qr/^payload$/, error => qr/endCursor/ });
add_case(name => 'graphql_empty_object', api => 'graphql', resource => 'products',
	edit => sub { on_page($_[0], { body => '{}' }, times => $PERSIST) },
	reject => { class => qr/^(graphql|payload)$/, error => qr/no data|not/ });

# Orders: a line with a bad quantity makes its order fail (nothing of it is
# stored), an order id beyond bigint, \u0000, deep nesting, an array body.
for my $api (qw(rest graphql))
{
	add_case(name => "${api}_order_quantity_string", api => $api, resource => 'orders',
		edit => sub { edit_page($_[0], [ { path => lpath($_[0], 'quantity'), value => 'abc' } ]) },
		failed => 1, reason => qr/quantity is not an integer/);
	add_case(name => "${api}_order_quantity_1e400", api => $api, resource => 'orders',
		edit => sub { edit_page($_[0], [ { path => lpath($_[0], 'quantity'), raw => '1e400' } ]) },
		failed => 1, reason => qr/quantity is not an integer/);
	add_case(name => "${api}_order_id_beyond_bigint", api => $api, resource => 'orders',
		edit => sub { edit_page($_[0], [ { path => opath($_[0], 'id'),
			($api eq 'rest' ? (raw => '99999999999999999999') : (value => 'gid://shopify/Order/99999999999999999999')) } ]) },
		failed => 1, reason => qr/order id missing/);
	add_case(name => "${api}_order_nul_escape", api => $api, resource => 'orders',
		edit => sub { edit_page($_[0], [ { path => opath($_[0], 'name'), raw => '"#1\u0000"' } ], times => $PERSIST) },
		reject => { class => qr/^payload$/, error => qr/\\u0000|Unicode|JSON/ });
	add_case(name => "${api}_order_nested_200000", api => $api, resource => 'orders',
		edit => sub { edit_page($_[0], [ { path => ['deep'], raw_parts => [ [ '[', 200000 ], [ ']', 200000 ] ] } ], times => $PERSIST) },
		reject => { class => qr/^payload$/, error => qr/nest/ });
	add_case(name => "${api}_order_array_body", api => $api, resource => 'orders',
		edit => sub { on_page($_[0], { body => '[]' }, times => $PERSIST) },
		reject => { class => qr/^payload$/, error => qr/./ });
}


# Bytes that are not UTF-8 in an answer's text that error messages quote
# (the body, X-Request-Id): the stored error must still be valid text.
add_case(name => 'rest_binary_body', api => 'rest', resource => 'products',
	edit => sub { on_page($_[0], { body_b64 => $b64->("{\"products\":\xff\xfe\x00\xe2\x82}"),
		headers => { 'X-Request-Id' => "req-\x{ff}\x{fe}" } }, times => $PERSIST) },
	reject => { class => qr/^invalid_json$/, error => qr/not valid JSON/ });
add_case(name => 'rest_error_body_binary', api => 'rest', resource => 'products',
	edit => sub { on_page($_[0], { status => 503, body_b64 => $b64->("\xff\xfe Service \xe2\x82\xac Unavailable \xe2\x82") },
		times => $PERSIST) },
	reject => { class => qr/^http$/, error => qr/HTTP 503.*Service .* Unavailable/ });

# ---------------------------------------------------------------- run
# (psql calls are slow: connect, enqueue, wait and read in a few batches)
sub kind_of { return ($_[0]{resource} // 'products') eq 'orders' ? 'orders' : 'products'; }

# Connect the stores not yet connected, and enqueue a full sync of each.
sub enqueue_all
{
	my @cs = @_;
	my ($sql, @params) = ('');
	for my $k (0 .. $#cs)
	{
		my $c = $cs[$k];
		if (!$c->{sid})
		{
			my $api = ($c->{api} // 'graphql') eq 'rest' ? 'rest' : 'graphql';
			push @params, '-v', "tok$k=$c->{shop}{token}";
			$sql .= "SELECT shopify_connect_store('$c->{shop}{domain}', :'tok$k') AS sid$k \\gset\n"
			  . "SELECT shopify_set_store_api(:sid$k, '$api') AS api$k \\gset\n";
		}
		else
		{
			$sql .= "SELECT $c->{sid} AS sid$k \\gset\n";
		}
		my $fn = kind_of($c) eq 'orders' ? 'shopify_sync_orders' : 'shopify_sync_products';
		$sql .= "SELECT $k, :sid$k, id FROM $fn(:sid$k, true);\n";
	}
	my $out = $node->safe_psql('app', $sql, extra_params => \@params);
	for my $line (split /\n/, $out)
	{
		my ($k, $sid, $job) = split /\|/, $line;
		$cs[$k]{sid} = $sid;
		$cs[$k]{job_id} = $job;
	}
}

# Wait for the jobs of @cs; $c->{job} = the job row.
sub wait_all
{
	my @cs = @_;
	my $ids = join(',', map { $_->{job_id} } @cs);
	$node->safe_psql('app', "SELECT count(*) FROM unnest(ARRAY[$ids]::bigint[]) x(id),"
		  . " LATERAL shopify_wait_for_sync(x.id, '150 seconds') j");
	my $rows = sql_json($node, "SELECT json_object_agg(id, row_to_json(j)) FROM shopify.sync_jobs j WHERE id IN ($ids)");
	$_->{job} = $rows->{ $_->{job_id} } for @cs;
}

sub json_file
{
	my ($name, $data) = @_;
	my $file = $node->basedir . "/$name.json";
	open my $fh, '>:raw', $file or die "$file: $!";
	print $fh encode_json($data);
	close $fh;
	chmod 0644, $file;
	return $file;
}

# Per store (shop_id): the product mirror against the stand-in's rows.
#   missing: expected rows not mirrored alike (sku_ids), extra: active rows not
#   expected, wrong: mirrored rows unlike any expected one, partial: products
#   with some but not all of their variants, products: mirrored product ids.
sub products_states
{
	my @cs = grep { kind_of($_) eq 'products' } @_;
	return {} unless @cs;
	my @all;
	for my $c (@cs)
	{
		my $rows = $standin->expected($c->{shop}{domain}, ($c->{api} // 'graphql') eq 'rest' ? 'rest' : 'graphql');
		push @all, map { { %$_, shop_id => 0 + $c->{sid} } } @$rows;
	}
	my $file = json_file("products_expected_$seq", \@all);
	my $sids = join(',', map { $_->{sid} } @cs);
	my $cols = 'shop_id bigint, sku_id bigint, product_id bigint, sku text, title text, variant_title text,'
	  . ' vendor text, product_type text, handle text, status text, tags text, price numeric,'
	  . ' compare_at_price numeric, barcode text, inventory_quantity int, inventory_item_id bigint,'
	  . ' position int, variant_updated_at timestamptz, product_updated_at timestamptz';
	my $list = 'shop_id, sku_id, product_id, sku, title, variant_title, vendor, product_type, handle,'
	  . ' status, tags, price, compare_at_price, barcode, inventory_quantity, inventory_item_id, position';
	return sql_json($node, qq{
	  WITH exp AS MATERIALIZED (SELECT * FROM jsonb_to_recordset(pg_read_file('$file')::jsonb) AS x($cols)),
	  act AS MATERIALIZED (SELECT * FROM shopify.products WHERE shop_id IN ($sids)),
	  missing AS (SELECT $list, variant_updated_at, product_updated_at FROM exp
	              EXCEPT SELECT $list, shopify_updated_at, product_updated_at FROM act WHERE is_active),
	  extra AS (SELECT shop_id, sku_id FROM act WHERE is_active EXCEPT SELECT shop_id, sku_id FROM exp),
	  wrong AS (SELECT $list, shopify_updated_at, product_updated_at FROM act
	            EXCEPT SELECT $list, variant_updated_at, product_updated_at FROM exp),
	  ec AS (SELECT shop_id, product_id, count(*) n FROM exp GROUP BY 1, 2),
	  partial AS (SELECT a.shop_id, a.product_id FROM act a LEFT JOIN ec USING (shop_id, product_id)
	              GROUP BY a.shop_id, a.product_id, ec.n HAVING ec.n IS DISTINCT FROM count(*))
	  SELECT json_object_agg(s.id, json_build_object(
	    'expected', (SELECT count(*) FROM exp e WHERE e.shop_id = s.id),
	    'missing', (SELECT coalesce(array_agg(sku_id ORDER BY sku_id), '{}') FROM missing m WHERE m.shop_id = s.id),
	    'extra', (SELECT count(*) FROM extra x WHERE x.shop_id = s.id),
	    'wrong', (SELECT count(*) FROM wrong w WHERE w.shop_id = s.id),
	    'partial', (SELECT count(*) FROM partial p WHERE p.shop_id = s.id),
	    'products', (SELECT coalesce(array_agg(DISTINCT product_id ORDER BY product_id), '{}') FROM act a WHERE a.shop_id = s.id)))
	  FROM unnest(ARRAY[$sids]::bigint[]) s(id)});
}

# Per store: the order mirror against the stand-in's orders and lines.
sub orders_states
{
	my @cs = grep { kind_of($_) eq 'orders' } @_;
	return {} unless @cs;
	my (@o, @l);
	for my $c (@cs)
	{
		my $exp = $standin->orders_expected($c->{shop}{domain});
		push @o, map { { %$_, shop_id => 0 + $c->{sid} } } @{ $exp->{orders} };
		push @l, map { { %$_, shop_id => 0 + $c->{sid} } } @{ $exp->{lines} };
	}
	my $file = json_file("orders_expected_$seq", { orders => \@o, lines => \@l });
	my $sids = join(',', map { $_->{sid} } @cs);
	my ($ocols, $olist, $lcols, $llist) = order_columns(1);
	return sql_json($node, qq{
	  WITH doc AS MATERIALIZED (SELECT pg_read_file('$file')::jsonb AS d),
	  eo AS MATERIALIZED (SELECT x.* FROM doc, jsonb_to_recordset(d->'orders') AS x($ocols)),
	  el AS MATERIALIZED (SELECT x.* FROM doc, jsonb_to_recordset(d->'lines') AS x($lcols)),
	  ao AS MATERIALIZED (SELECT * FROM shopify.orders WHERE shop_id IN ($sids)),
	  al AS MATERIALIZED (SELECT * FROM shopify.order_lines WHERE shop_id IN ($sids)),
	  om AS (SELECT $olist FROM eo EXCEPT SELECT $olist FROM ao),
	  ox AS (SELECT $olist FROM ao EXCEPT SELECT $olist FROM eo),
	  lm AS (SELECT $llist FROM el EXCEPT SELECT $llist FROM al),
	  lx AS (SELECT $llist FROM al EXCEPT SELECT $llist FROM el)
	  SELECT json_object_agg(s.id, json_build_object(
	    'orders', (SELECT count(*) FROM eo WHERE eo.shop_id = s.id),
	    'mirrored', (SELECT count(*) FROM ao WHERE ao.shop_id = s.id),
	    'missing', (SELECT coalesce(array_agg(order_id ORDER BY order_id), '{}') FROM om WHERE om.shop_id = s.id),
	    'extra', (SELECT count(*) FROM ox WHERE ox.shop_id = s.id),
	    'extra_lines', (SELECT count(*) FROM lx WHERE lx.shop_id = s.id),
	    'missing_line_orders', (SELECT coalesce(array_agg(DISTINCT order_id), '{}') FROM lm WHERE lm.shop_id = s.id),
	    'lines_of_missing', (SELECT count(*) FROM al WHERE al.shop_id = s.id
	                           AND order_id IN (SELECT order_id FROM om WHERE om.shop_id = s.id))))
	  FROM unnest(ARRAY[$sids]::bigint[]) s(id)});
}

my $T1 = time();
setup_case($_) for @cases;
# ---------------------------------------------------------------- bulk JSONL
# A bulk result with a line that carries invalid UTF-8, \u0000, or deep
# nesting (40 products: above shopify_sync.bulk_threshold, the other stores
# are below it).
my @bulk;
for my $b (
	[ 'bulk_invalid_utf8', sub { { path => [ $_[0], 'title' ], string_b64 => $b64->("Bad\xff\xfeTitle") } },
		qr/not valid UTF8/ ],
	[ 'bulk_nul_escape', sub { { path => [ $_[0], 'title' ], raw => '"Bad\u0000Title"' } }, qr/not valid JSON/ ],
	[ 'bulk_nested', sub { { path => [ $_[0], 'title' ], raw_parts => [ [ '[', 100000 ], [ ']', 100000 ] ] } },
		qr/nests deeper/ ])
{
	my ($name, $edit, $want) = @$b;
	(my $tag = $name) =~ s/_/-/g;
	my $shop = ShopifyStandin::make_shop(domain => "m-$tag.myshopify.com", products => 40,
		bucket => undef, graphql => undef, seed => 500 + @bulk);
	$standin->add_shop($shop);
	$standin->set_bulk($shop->{domain}, { delay_s => 0.2, shuffle => JSON::PP::false });
	# line 12: somewhere in the middle (not shuffled: each product, then its variants)
	$standin->inject($shop->{domain}, { path_prefix => '/_bulk/', responses => [ { edits => [ $edit->(12) ] } ] });
	push @bulk, { name => $name, shop => $shop, api => 'graphql', want => $want };
}
note(sprintf('%d cases set up in %.1f s (node ready after %.1f s)', @cases + @bulk, time() - $T0, $T1 - $T0));
enqueue_all(@cases, @bulk);
wait_all(@cases, @bulk);
note(sprintf('all syncs finished after %.1f s', time() - $T0));

# ---------------------------------------------------------------- checks
my $pstate = products_states(@cases);
my $ostate = orders_states(@cases);
my $jobs = join(',', map { $_->{job_id} } @cases);
my $examples = sql_json($node, "SELECT coalesce(json_object_agg(sync_job_id, ex), '{}') FROM"
	  . " (SELECT sync_job_id, string_agg(details->>'examples', ' | ') ex FROM shopify.sync_log"
	  . "   WHERE sync_job_id IN ($jobs) AND details->>'operation' IN ('variants_failed', 'orders_failed')"
	  . "   GROUP BY 1) x");
my $victims = join(',', map { $_->{victim} // () } @cases);
$vrows = sql_json($node, "SELECT coalesce(json_object_agg(sku_id, json_build_object('price', price)), '{}')"
	  . " FROM shopify.products WHERE sku_id IN ($victims)");

sub check_case
{
	my ($c) = @_;
	my $job = $c->{job};
	my $n = $c->{name};
	my $ps = $pstate->{ $c->{sid} };
	my $os = $ostate->{ $c->{sid} };
	my $jinfo = { map { ($_ => $job->{$_}) } qw(status error_class error variants_failed api_retries) };
	if ($c->{check})
	{
		$c->{check}->($c, $job, $ps);
	}
	elsif (defined $c->{failed})
	{
		is($job->{status}, 'completed', "$n: page stored, the job completed") or diag explain $jinfo;
		is($job->{variants_failed}, $c->{failed}, "$n: $c->{failed} counted failed");
		like($examples->{ $job->{id} } // '', $c->{reason}, "$n: the reason is logged");
		if (kind_of($c) eq 'products')
		{
			my @want = sort { $a <=> $b } @{ $c->{missing}->($c) };
			is_deeply([ $ps->{missing}, $ps->{extra}, $ps->{wrong} ], [ \@want, 0, 0 ],
				"$n: every other row stored exactly; missing only: @want") or diag explain $ps;
		}
		else
		{
			is_deeply([ $os->{missing}, $os->{extra}, $os->{extra_lines}, $os->{lines_of_missing} ],
				[ [ $c->{victim_order} ], 0, 0, 0 ],
				"$n: the order with the bad value is not stored at all, every other order exact")
			  or diag explain $os;
		}
	}
	elsif ($c->{reject})
	{
		is($job->{status}, 'failed', "$n: the job failed") or diag explain $jinfo;
		like($job->{error_class} // '', $c->{reject}{class}, "$n: error class " . ($job->{error_class} // 'none'));
		like($job->{error} // '', $c->{reject}{error}, "$n: the error says why") or diag $job->{error};
		note("$n: $job->{error}") if $job->{error};
		if (kind_of($c) eq 'products')
		{
			is_deeply([ $ps->{wrong}, $ps->{partial}, $ps->{products} ],
				[ 0, 0, [ sort { $a <=> $b } @{ $c->{page1} } ] ],
				"$n: exactly the first page is stored, exact and whole; nothing of the bad page")
			  or diag explain $ps;
		}
		else
		{
			is_deeply([ $os->{extra}, $os->{extra_lines}, scalar(@{ $os->{missing} }), $os->{mirrored} ],
				[ 0, 0, $os->{orders} - $PAGE, $PAGE ],
				"$n: exactly the first page of orders is stored, nothing of the bad page")
			  or diag explain $os;
		}
	}
	elsif ($c->{retried})
	{
		is($job->{status}, 'completed', "$n: the job completed after fetching the page again") or diag explain $jinfo;
		is_deeply([ $ps->{missing}, $ps->{extra} ], [ [], 0 ], "$n: mirror exact") or diag explain $ps;
		is($standin->injections($c->{shop}{domain})->[0]{served}, 1, "$n: the bad page was served (once)");
	}
}

check_case($_) for @cases;

# nothing corrupt anywhere in the schema: no NUL, no invalid UTF-8
my $BAD_TEXT = "SELECT coalesce(string_agg(tbl || '.' || col || ': ' || n, ', '), '') FROM malcheck.bad_text() WHERE n > 0";
is($node->safe_psql('app', $BAD_TEXT), '', 'no text or jsonb value in schema shopify holds a NUL byte or invalid UTF-8');
is($node->safe_psql('app', "SELECT count(*) FROM shopify.products WHERE octet_length(sku) > 65535 OR octet_length(title) > 65535"),
	'0', 'no 10 MB string was stored');
is(worker_pid($node), $worker, 'the worker never died');

# ---------------------------------------------------------------- bulk checks
for my $b (@bulk)
{
	my $job = $b->{job};
	my $n = $b->{name};
	is($job->{api}, 'bulk', "$n: the sync ran as a bulk operation");
	is($standin->injections($b->{shop}{domain})->[0]{served}, 1, "$n: the crafted line was downloaded");
	is($job->{status} . ' ' . ($job->{error_class} // ''), 'failed payload', "$n: the job failed, error class payload")
	  or diag explain $job;
	like($job->{error} // '', $b->{want}, "$n: the error says why") or diag $job->{error};
	note("$n: $job->{error}") if $job->{error};
}
is($node->safe_psql('app', $BAD_TEXT), '', 'bulk: nothing corrupt stored');

note(sprintf('checks done after %.1f s', time() - $T0));

# ---------------------------------------------------------------- clean syncs
# Without crafted answers every store's mirror becomes exact again.
$standin->clear_injections($_->{shop}{domain}) for @cases, @bulk;
$seq++;
enqueue_all(@cases, @bulk);
wait_all(@cases, @bulk);
note(sprintf('clean syncs finished after %.1f s', time() - $T0));
$pstate = products_states(@cases, @bulk);
$ostate = orders_states(@cases, @bulk);
my @not_exact;
for my $c (@cases, @bulk)
{
	my $exact;
	if (kind_of($c) eq 'orders')
	{
		my $d = $ostate->{ $c->{sid} };
		$exact = !@{ $d->{missing} } && !@{ $d->{missing_line_orders} } && !$d->{extra} && !$d->{extra_lines};
	}
	else
	{
		my $d = $pstate->{ $c->{sid} };
		$exact = !@{ $d->{missing} } && !$d->{extra} && $d->{expected} > 0;
	}
	push @not_exact, "$c->{name}: $c->{job}{status}" unless $c->{job}{status} eq 'completed' && $exact;
}
is_deeply(\@not_exact, [], 'a clean full sync makes every mirror exact again (' . scalar(@cases + @bulk) . ' stores)');

is($node->safe_psql('app', $BAD_TEXT), '', 'still nothing corrupt in schema shopify');
is(worker_pid($node), $worker, 'the worker is still the same process');
unlike(slurp_file($node->logfile), qr/PANIC|TRAP:|terminated by signal|server process .* was terminated/,
	'no crash, no PANIC in the server log');
my $secs = time() - $T0;
note(sprintf('081_malformed took %.1f s', $secs));

$node->stop;
$standin->stop;
done_testing();
