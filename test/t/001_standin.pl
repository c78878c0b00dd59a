# Tests of the Shopify Admin API stand-in itself (REST, GraphQL, bulk operations,
# orders; no PostgreSQL needed).
#   prove -I test/perl test/t/001_standin.pl
use strict;
use warnings;

use Test::More;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(strftime);
use Time::Local qw(timegm);
use Time::HiRes qw(time sleep);

use ShopifyStandin;

my $T0   = time();
my $V    = '2026-07';
my $JSON = JSON::PP->new->utf8->canonical;
# Under scripts/test.sh TESTDIR is kept on failure, so the stand-in log survives.
my $dir  = $ENV{TESTDIR} ? "$ENV{TESTDIR}/standin"
  : tempdir('standin-test-XXXXXX', TMPDIR => 1, CLEANUP => 1);

my $alpha = ShopifyStandin::make_shop(domain => 'alpha.myshopify.com', products => 300,
	big_products => [150, 120], seed => 1, bucket => undef);
my $beta  = ShopifyStandin::make_shop(domain => 'beta.myshopify.com', products => 20,
	bucket => { size => 40, leak => 2.0 });
my $gamma = ShopifyStandin::make_shop(domain => 'gamma.myshopify.com', products => 30,
	bucket => undef, awkward => 0);
my $eps   = ShopifyStandin::make_shop(domain => 'epsilon.myshopify.com', products => 60,
	big_products => [300], seed => 5, bucket => undef,
	graphql => { maximum => 100000, restore => 100000 });

my $zeta  = ShopifyStandin::make_shop(domain => 'zeta.myshopify.com', products => 40, seed => 9,
	bucket => undef, graphql => { maximum => 100000, restore => 100000 },
	orders => { count => 600, seed => 3, days => 120 });

my $s = ShopifyStandin->start(config => { shops => [$alpha, $beta, $gamma, $eps, $zeta] },
	dir => $dir, max_lifetime => 300);
ok($s->port > 0, 'stand-in started on port ' . $s->port);
is_deeply($s->control(GET => '/_control/health'), { ok => JSON::PP::true }, 'health');

my $http = HTTP::Tiny->new(timeout => 20, keep_alive => 1);

sub get {
	my ($shop, $path, %o) = @_;
	my $url = $path =~ m{^https?://} ? $path : $s->base_url . $path;
	$url =~ s{^https://[^/]+}{$s->base_url}e;     # follow Link URLs to the stand-in
	return ($o{http} // $http)->get($url,
		{ headers => { 'X-Shopify-Access-Token' => $o{token} // $shop->{token} } });
}
sub body { $JSON->decode($_[0]{content}) }
sub enc { my $v = shift; $v =~ s/([^A-Za-z0-9.\-_~])/sprintf('%%%02X', ord $1)/ge; $v }

sub links {
	my ($res) = @_;
	my %l;
	my $h = $res->{headers}{link} // return {};
	for my $part (split /, (?=<)/, $h) {
		$part =~ /^<([^>]+)>; rel="(next|previous)"$/ or return { bad => $part };
		$l{$2} = $1;
	}
	return \%l;
}

# Walk all pages; returns ([ids...], max variants seen, n requests).
sub walk {
	my ($shop, $first, %o) = @_;
	my (@ids, $maxv);
	my $url  = $first;
	my $n    = 0;
	my $fmt_ok = 1;
	while ($url) {
		my $r = get($shop, $url);
		die "GET $url: $r->{status} $r->{content}" unless $r->{status} == 200;
		$n++;
		my $l = links($r);
		$fmt_ok = 0 if $l->{bad} || ($n > 1 && !$l->{previous});
		$fmt_ok = 0 if $n > 1 && $r->{headers}{link} !~ /^<[^>]+>; rel="previous"(, <[^>]+>; rel="next")?$/;
		for my $p (@{ body($r)->{products} }) {
			push @ids, $p->{id};
			my $nv = scalar @{ $p->{variants} // [] };
			$maxv = $nv if !defined $maxv || $nv > $maxv;
		}
		$url = $l->{next};
		die 'runaway pagination' if $n > 1000;
	}
	return (\@ids, $maxv, $n, $fmt_ok);
}

sub uniq_products {
	my ($rows) = @_;
	my (%seen, @ids);
	for (@$rows) { push @ids, $_->{product_id} unless $seen{ $_->{product_id} }++ }
	return \@ids;
}

# --- pagination ---------------------------------------------------------------
my $rows_rest = $s->expected('alpha.myshopify.com', 'rest');
my $all_ids   = uniq_products($rows_rest);
is(scalar @$all_ids, 302, '302 products (300 + 2 big) in expected rows');
is_deeply([sort { $a <=> $b } @$all_ids], $all_ids, 'expected rows ordered by product id');

for my $limit (250, 7) {
	my ($ids, $maxv, $n, $fmt_ok) = walk($alpha, "/admin/api/$V/products.json?limit=$limit");
	is_deeply($ids, $all_ids, "limit=$limit: every product exactly once, in id order ($n pages)");
	is($n, int((302 + $limit - 1) / $limit), "limit=$limit: page count");
	ok($fmt_ok, "limit=$limit: Link headers well formed, rel=previous on later pages");
	ok($maxv <= 100, "limit=$limit: at most 100 variants per product in REST (max $maxv)");
}

my $r1 = get($alpha, "/admin/api/$V/products.json?limit=250");
like($r1->{headers}{link},
	qr{^<https://alpha\.myshopify\.com/admin/api/$V/products\.json\?limit=250&page_info=[A-Za-z0-9_-]+>; rel="next"$},
	'first page: Link has only rel="next" with the shop URL');
is($r1->{headers}{'x-shopify-api-deprecated-reason'},
	'https://shopify.dev/api/admin-rest/latest/resources/product', 'deprecation header');
ok($r1->{headers}{'x-request-id'}, 'X-Request-Id present');
like($r1->{headers}{'content-type'}, qr{^application/json; charset=utf-8$}, 'content type');
ok(!exists $r1->{headers}{'x-shopify-shop-api-call-limit'}, 'no call-limit header when bucket is off');
my $next = links($r1)->{next};
my $r2 = get($alpha, $next);
my $l2 = links($r2);
ok($l2->{previous} && !$l2->{next}, 'last page: previous but no next');
my $rp = get($alpha, $l2->{previous});
is_deeply([map { $_->{id} } @{ body($rp)->{products} }], [@{$all_ids}[0 .. 249]],
	'rel="previous" leads back to the first page');
ok(links($rp)->{next} && !links($rp)->{previous}, 'first page reached via previous: next only');

# --- errors ----------------------------------------------------------------------
my ($tok) = $next =~ /page_info=([^&>]+)/;
my $r = get($alpha, "/admin/api/$V/products.json?limit=250&page_info=$tok&updated_at_min=2020-01-01T00:00:00%2B00:00");
is($r->{status}, 400, 'page_info + updated_at_min -> 400');
like(body($r)->{errors}, qr/^updated_at_min cannot be passed when page_info is present$/, '... message');
$r = get($alpha, "/admin/api/$V/products.json?limit=250&page_info=$tok&fields=id,title");
is($r->{status}, 200, 'page_info + fields + limit is allowed');
(my $bad = $tok) =~ s/^(.{10})(.)/$1 . ($2 eq 'A' ? 'B' : 'A')/e;
$r = get($alpha, "/admin/api/$V/products.json?page_info=$bad");
is($r->{status}, 400, 'tampered page_info -> 400');
is_deeply(body($r), { errors => { page_info => ['Invalid value.'] } }, '... Shopify body');
$r = get($alpha, "/admin/api/$V/products.json?limit=251");
is($r->{status}, 400, 'limit=251 -> 400');
ok(body($r)->{errors}, '... with errors');
$r = get($alpha, "/admin/api/$V/products.json?updated_at_min=yesterday");
is($r->{status}, 400, 'unparsable updated_at_min -> 400');
$r = get($alpha, "/admin/api/$V/products.json", token => 'shpat_wrong');
is($r->{status}, 401, 'bad token -> 401');
is(body($r)->{errors}, '[API] Invalid API key or access token (unrecognized login or wrong password)',
	'... message');
ok($r->{headers}{'x-request-id'}, '... has X-Request-Id');
$r = get($alpha, "/admin/api/$V/nothing.json");
is($r->{status}, 404, 'unknown endpoint -> 404');
$r = get($alpha, "/admin/api/$V/shop.json");
is(body($r)->{shop}{myshopify_domain}, 'alpha.myshopify.com', 'shop.json');

# --- count / fields / variants / prices --------------------------------------------
$r = get($alpha, "/admin/api/$V/products/count.json");
is(body($r)->{count}, 302, 'count matches');
my %draft = map { $_->{product_id} => 1 } grep { $_->{status} eq 'draft' } @$rows_rest;
$r = get($alpha, "/admin/api/$V/products/count.json?status=draft");
is(body($r)->{count}, scalar keys %draft, 'count with status=draft matches expected rows');
ok(scalar keys %draft, 'catalog has drafts');

$r = get($alpha, "/admin/api/$V/products.json?limit=5&fields=id,title,variants");
my $p0 = body($r)->{products}[0];
ok(!exists $p0->{body_html} && exists $p0->{variants} && exists $p0->{title},
	'fields=id,title,variants drops body_html, keeps variants');
is_deeply([sort keys %$p0], [qw(id title variants)], '... only the requested keys');
like(links($r)->{next}, qr{\?limit=5&fields=id,title,variants&page_info=}, 'fields kept in Link');
ok(exists body($r1)->{products}[0]{body_html}, 'body_html present without fields');

my %nv_rest; $nv_rest{ $_->{product_id} }++ for @$rows_rest;
my $rows_gql = $s->expected('alpha.myshopify.com', 'graphql');
my %nv_gql; $nv_gql{ $_->{product_id} }++ for @$rows_gql;
my ($big) = grep { $nv_gql{$_} == 150 } keys %nv_gql;
ok($big, 'big product with 150 variants exists in expected?api=graphql');
is($nv_rest{$big}, 100, '... expected?api=rest has its first 100');
$r = get($alpha, "/admin/api/$V/products/$big.json");
is(scalar @{ body($r)->{product}{variants} }, 100, 'REST product endpoint serves 100 variants');
is(body($r)->{product}{variants}[99]{position}, 100, '... the first 100 by position');
is(get($alpha, "/admin/api/$V/products/1.json")->{status}, 404, 'unknown product -> 404');

my $raw = $r1->{content};
my $nprice = () = $raw =~ /"price":"/g;
ok($nprice > 100, "prices are JSON strings ($nprice seen)");
unlike($raw, qr/"(?:price|compare_at_price|amount)":-?[0-9]/, 'no numeric prices');
ok((grep { !defined $_->{sku} } @$rows_rest) && (grep { defined $_->{sku} && $_->{sku} eq '' } @$rows_rest),
	'awkward catalog has null and empty SKUs');

# --- leaky bucket ----------------------------------------------------------------
{
	my $h = HTTP::Tiny->new(timeout => 10, keep_alive => 1);
	my (@limits, $n429, $n200, $retry_ok, $body_ok);
	$n429 = $n200 = 0;
	$retry_ok = $body_ok = 1;
	for (1 .. 45) {
		my $x = get($beta, "/admin/api/$V/shop.json", http => $h);
		push @limits, $x->{headers}{'x-shopify-shop-api-call-limit'} // 'none';
		if ($x->{status} == 429) {
			$n429++;
			$retry_ok = 0 unless ($x->{headers}{'retry-after'} // '') eq '2.0';
			$body_ok  = 0 unless body($x)->{errors} =~ /^Exceeded 2 calls per second/;
		}
		$n200++ if $x->{status} == 200;
	}
	ok($n429 >= 1, "45 rapid requests: $n429 got 429, $n200 got 200");
	ok($retry_ok && $body_ok, '429s carry Retry-After: 2.0 and the Shopify body');
	is($limits[0], '1/40', 'first call-limit header is 1/40');
	ok((grep { $_ eq '40/40' } @limits), 'bucket reached 40/40');
	my $bs = $s->shop_stats('beta.myshopify.com');
	is($bs->{throttled_429}, $n429, 'stats count the 429s');
	sleep(3);
	my $x = get($beta, "/admin/api/$V/shop.json", http => $h);
	is($x->{status}, 200, 'after 3 s the bucket has leaked');
	my ($used) = ($x->{headers}{'x-shopify-shop-api-call-limit'} // '') =~ m{^(\d+)/40$};
	ok(defined $used && $used <= 36, "... call limit now ${\($used // '?')}/40");
}

# --- mutations and incremental listing -------------------------------------------
{
	my $before_max = $all_ids->[-1];
	my $m = $s->mutate('alpha.myshopify.com', { update => 5, create => 3, delete => 2,
		delete_variants => 2, add_variants => 2, seed => 7 });
	is(scalar @{ $m->{created} }, 3, 'mutate created 3');
	ok((!grep { $_ <= $before_max } @{ $m->{created} }), '... with new, higher ids');
	my $since = strftime('%Y-%m-%dT%H:%M:%S', gmtime($m->{ts})) . '+00:00';
	my ($ids) = walk($alpha, "/admin/api/$V/products.json?limit=250&updated_at_min=" . enc($since));
	is_deeply([sort { $a <=> $b } @$ids], $m->{touched},
		'updated_at_min returns exactly the updated/created products');
	my %want = map { $_ => 1 } @{ $m->{updated} }, @{ $m->{created} };
	my %touched = map { $_ => 1 } @{ $m->{touched} };
	ok((!grep { !$touched{$_} } keys %want), 'touched includes every updated and created product');
	my $d = $s->deleted('alpha.myshopify.com');
	my %dv = map { $_ => 1 } @{ $d->{sku_ids} };
	ok((grep { $dv{$_} } @{ $m->{deleted_variants} }) == 2, 'deleted variants listed');
	my %gone = map { $_ => 1 } @{ $m->{deleted} };
	ok((!grep { $gone{ $_->{product_id} } } @{ $s->expected('alpha.myshopify.com') }),
		'deleted products absent from expected rows');
	is(body(get($alpha, "/admin/api/$V/products/count.json"))->{count}, 303, 'count after mutate');

	# explicit ops
	my $pid = $m->{touched}[0];
	my ($row) = grep { $_->{product_id} == $pid } @{ $s->expected('alpha.myshopify.com') };
	my $m2 = $s->mutate('alpha.myshopify.com', { ops => [
		{ op => 'update', product_id => $pid, title => "Renamed \x{2603}",
		  variant => { id => $row->{sku_id}, price => '9.99' } },
		{ op => 'restore', product_id => $m->{deleted}[0] } ] });
	ok($m2->{ts} > $m->{ts}, 'updated_at strictly increases between mutations');
	($row) = grep { $_->{sku_id} == $row->{sku_id} } @{ $s->expected('alpha.myshopify.com') };
	is($row->{price}, '9.99', 'explicit variant price update');
	is($row->{title}, "Renamed \x{2603}", 'explicit title update');
	my $pr = get($alpha, "/admin/api/$V/products/$m->{deleted}[0].json");
	is($pr->{status}, 200, 'restored product is back with its old id');
	my $since2 = enc(strftime('%Y-%m-%dT%H:%M:%S', gmtime($m2->{ts})) . '+00:00');
	is(body(get($alpha, "/admin/api/$V/products/count.json?updated_at_min=$since2"))->{count}, 2,
		'updated_at_min after explicit ops: 2 products');
	$s->reset_stats;
	my $rawplus = strftime('%Y-%m-%dT%H:%M:%S', gmtime($m2->{ts})) . '+00:00';
	is(get($alpha, "/admin/api/$V/products/count.json?updated_at_min=$rawplus")->{status}, 200,
		'unencoded + (decoded as space) is accepted like Shopify');
	is($s->shop_stats('alpha.myshopify.com')->{notes}{plus_decoded_as_space}, 1,
		'... and counted in stats notes');
}

# --- faults ----------------------------------------------------------------------
{
	$s->faults({ shop => 'gamma.myshopify.com', next => 1, kinds => ['503'] });
	my $x = get($gamma, "/admin/api/$V/products.json");
	is($x->{status}, 503, 'next=1 kinds=503 -> 503');
	ok($x->{headers}{'x-request-id'}, '... with X-Request-Id');
	is(get($gamma, "/admin/api/$V/products.json")->{status}, 200, 'following request is normal');

	$s->faults({ shop => 'gamma.myshopify.com', next => 1, kinds => ['reset'] });
	$x = get($gamma, "/admin/api/$V/shop.json", http => HTTP::Tiny->new(timeout => 5));
	is($x->{status}, 599, 'reset -> connection error');
	my ($why) = split /\n/, $x->{content} // '';
	like($why, qr/reset|closed|EOF|end of/i, "... $why");

	$s->faults({ shop => 'gamma.myshopify.com', next => 1, kinds => ['truncated'] });
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $s->port,
		Timeout => 5) or die "connect: $!";
	print $sock "GET /admin/api/$V/products.json HTTP/1.1\r\nHost: x\r\n"
	  . "X-Shopify-Access-Token: $gamma->{token}\r\n\r\n";
	local $/;
	my $all = <$sock>;
	close $sock;
	my ($hdr, $bod) = split /\r\n\r\n/, $all, 2;
	my ($cl) = $hdr =~ /Content-Length: (\d+)/i;
	ok($cl && length($bod) < $cl, 'truncated: body (' . length($bod) . ") shorter than Content-Length ($cl)");

	$s->faults({ shop => 'gamma.myshopify.com', next => 2, kinds => ['nonjson', '429'] });
	$x = get($gamma, "/admin/api/$V/shop.json");
	ok($x->{status} == 200 && $x->{content} =~ /^<!DOCTYPE html>/, 'nonjson -> 200 with HTML');
	$x = get($gamma, "/admin/api/$V/shop.json");
	ok($x->{status} == 429 && $x->{headers}{'retry-after'} eq '2.0', 'fault 429 with Retry-After');
	my $gs = $s->shop_stats('gamma.myshopify.com');
	is_deeply($gs->{faults_injected}, { 503 => 1, reset => 1, truncated => 1, nonjson => 1, 429 => 1 },
		'faults counted in stats');
	is($gs->{throttled_429}, 0, 'fault 429 is not a bucket 429');
	$s->clear_faults;
	is_deeply($s->control(GET => '/_control/faults')->{faults}, {}, 'faults cleared');
}

# --- keep-alive / connections -----------------------------------------------------
{
	$s->reset_stats;
	my $h = HTTP::Tiny->new(timeout => 10, keep_alive => 1);
	get($gamma, "/admin/api/$V/products.json?limit=3", http => $h) for 1 .. 5;
	my $gs = $s->shop_stats('gamma.myshopify.com');
	is($gs->{requests}, 5, '5 requests');
	is($gs->{connections}, 1, '... over one keep-alive connection');
	is(scalar @{ $gs->{requests_log} }, 5, 'requests_log has 5 entries');
	is($gs->{requests_log}[0][2], "/admin/api/$V/products.json", '... path without query');
	is($gs->{requests_log}[0][3], 'limit=3', '... query string');
	get($gamma, "/admin/api/$V/products.json?limit=3", http => HTTP::Tiny->new(keep_alive => 1));
	is($s->shop_stats('gamma.myshopify.com')->{connections}, 2, 'a new client is a new connection');
}

# --- token revocation / runtime shops ------------------------------------------------
{
	$s->set_token('gamma.myshopify.com', 'shpat_rotated');
	is(get($gamma, "/admin/api/$V/shop.json")->{status}, 401, 'revoked token -> 401');
	is(get($gamma, "/admin/api/$V/shop.json", token => 'shpat_rotated')->{status}, 200, 'new token works');
	my $delta = ShopifyStandin::make_shop(domain => 'delta.myshopify.com', products => 10);
	my $info = $s->add_shop($delta);
	is($info->{products}, 10, 'shop added at runtime');
	my $x = get($delta, "/admin/api/$V/products.json");
	is($x->{status}, 200, '... and served');
	my %alpha_ids = map { $_->{sku_id} => 1 } @{ $s->expected('alpha.myshopify.com', 'graphql') };
	ok((!grep { $alpha_ids{ $_->{sku_id} } } @{ $s->expected('delta.myshopify.com', 'graphql') }),
		'variant ids disjoint across shops');
	ok($info->{id_range}[0] > 2**32, 'ids exceed 2^32');
}

# --- GraphQL -------------------------------------------------------------------------
my $VF = 'id sku title barcode price compareAtPrice inventoryQuantity position updatedAt inventoryItem { id }';
my $Q_SHOP = 'query ShopifySyncShop { shop { name currencyCode myshopifyDomain plan { displayName } } }';
my $Q_COUNT = 'query ShopifySyncCount($query: String) { productsCount(query: $query) { count precision } }';
my $Q_PRODUCTS = 'query ShopifySyncProducts($first: Int!, $after: String, $query: String, $variantsFirst: Int!) '
  . '{ products(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) { pageInfo { hasNextPage endCursor } '
  . 'nodes { id title vendor productType handle status tags updatedAt variants(first: $variantsFirst) '
  . "{ pageInfo { hasNextPage endCursor } nodes { $VF } } } } }";
my $Q_VARIANTS = 'query ShopifySyncProductVariants($id: ID!, $first: Int!, $after: String) { product(id: $id) '
  . '{ id title vendor productType handle status tags updatedAt variants(first: $first, after: $after) '
  . "{ pageInfo { hasNextPage endCursor } nodes { $VF } } } }";
my $BF = 'id status errorCode objectCount fileSize url partialDataUrl createdAt completedAt';
my $Q_BULK_START = 'mutation ShopifySyncBulkStart($query: String!) { bulkOperationRunQuery(query: $query) '
  . '{ bulkOperation { id status } userErrors { field message code } } }';
my $Q_BULK_STATUS = "query ShopifySyncBulkStatus(\$id: ID!) { node(id: \$id) { ... on BulkOperation { $BF } } }";
my $Q_BULK_CURRENT = "query ShopifySyncCurrentBulk { currentBulkOperation(type: QUERY) { $BF } }";
my $Q_BULK_CANCEL = 'mutation ShopifySyncBulkCancel($id: ID!) { bulkOperationCancel(id: $id) '
  . '{ bulkOperation { id status } userErrors { field message } } }';
my $BULK_QUERY = '{ products { edges { node { id title vendor productType handle status tags updatedAt '
  . "variants { edges { node { $VF } } } } } } }";
my $EPS = 'epsilon.myshopify.com';

sub gql { my ($shop, $q, $v, %o) = @_; return $s->graphql($o{token} // $shop->{token}, $q, $v, %o) }

# ISO 8601 with Z or +hh:mm -> epoch
sub iso_epoch {
	my ($t) = @_;
	$t =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:Z|([+-])(\d\d):(\d\d))$/ or return undef;
	my $e = timegm($6, $5, $4, $3, $2 - 1, $1);
	$e -= ($7 eq '+' ? 1 : -1) * ($8 * 3600 + $9 * 60) if defined $7;
	return $e;
}

sub gql_products_page {
	my ($shop, $first, $vfirst, $after, $query) = @_;
	my ($d, $res) = gql($shop, $Q_PRODUCTS, { first => $first, after => $after, query => $query,
		variantsFirst => $vfirst });
	die "products page: $res->{status} $res->{content}" unless $res->{status} == 200 && $d->{data};
	return ($d, $res);
}

# All pages of products; returns ([nodes], pages, raw bodies ok).  $hook->($page_no, $nodes) runs after each page.
sub gql_walk {
	my ($shop, $first, $vfirst, $query, $hook) = @_;
	my ($after, @nodes, $pages, $raw_ok);
	$raw_ok = 1;
	while (1) {
		my ($d, $res) = gql_products_page($shop, $first, $vfirst, $after, $query);
		$pages++;
		$raw_ok = 0 if $res->{content} =~ /"(?:price|compareAtPrice)":[-0-9]/;
		$raw_ok = 0 unless ($res->{headers}{'content-type'} // '') eq 'application/json; charset=utf-8'
		  && $res->{headers}{'x-request-id'};
		push @nodes, @{ $d->{data}{products}{nodes} };
		$hook->($pages, $d->{data}{products}{nodes}) if $hook;
		my $pi = $d->{data}{products}{pageInfo};
		last unless $pi->{hasNextPage};
		$after = $pi->{endCursor};
		die 'runaway graphql pagination' if $pages > 1000;
	}
	return (\@nodes, $pages, $raw_ok);
}

{
	my $rows = $s->expected($EPS, 'graphql');
	my (%prow, %vrows);
	for my $r (@$rows) { $prow{ $r->{product_id} } //= $r; push @{ $vrows{ $r->{product_id} } }, $r }
	my $np = scalar keys %prow;
	is($np, 61, 'epsilon: 61 products (60 + one with 300 variants)');

	my ($d, $res) = gql($eps, $Q_SHOP);
	is_deeply($d->{data}, { shop => { name => 'Epsilon Store', currencyCode => 'USD',
		myshopifyDomain => $EPS, plan => { displayName => 'Basic' } } }, 'ShopifySyncShop');
	ok($res->{headers}{'x-request-id'} && !exists $res->{headers}{'x-shopify-shop-api-call-limit'},
		'... X-Request-Id, no REST call-limit header');
	is_deeply([sort keys %{ $d->{extensions}{cost} }], [qw(actualQueryCost requestedQueryCost throttleStatus)],
		'... extensions.cost present');
	$d = gql($eps, $Q_COUNT, { query => undef });
	is_deeply($d->{data}, { productsCount => { count => 61, precision => 'EXACT' } }, 'ShopifySyncCount');

	# -- pagination: first=7 / variantsFirst=3, then per-product variant pages
	my ($nodes, $pages, $raw_ok) = gql_walk($eps, 7, 3, undef);
	is($pages, 9, 'first=7: 9 pages for 61 products');
	ok($raw_ok, '... prices are strings, JSON content type, X-Request-Id on every page');
	my %seen; $seen{ $_->{id} }++ for @$nodes;
	is(scalar @$nodes, $np, '... every product once');
	is_deeply([sort keys %seen], [sort map { "gid://shopify/Product/$_" } keys %prow], '... the right products');
	my @keys = map { [ iso_epoch($_->{updatedAt}), ($_->{id} =~ /(\d+)$/)[0] ] } @$nodes;
	ok((!grep { $keys[$_ - 1][0] > $keys[$_][0]
		|| ($keys[$_ - 1][0] == $keys[$_][0] && $keys[$_ - 1][1] >= $keys[$_][1]) } 1 .. $#keys),
		'... sorted by (updatedAt, id)');
	my ($bad_p, $bad_v, $more_ok, %got_v, @follow) = (0, 0, 1);
	for my $n (@$nodes) {
		my ($pid) = $n->{id} =~ m{^gid://shopify/Product/(\d+)$};
		my $e = $prow{$pid};
		$bad_p++ unless $e && $n->{title} eq $e->{title} && $n->{vendor} eq $e->{vendor}
		  && $n->{productType} eq $e->{product_type} && $n->{handle} eq $e->{handle}
		  && $n->{status} eq uc($e->{status}) && $n->{status} =~ /^(ACTIVE|DRAFT|ARCHIVED)$/
		  && ref $n->{tags} eq 'ARRAY' && join(', ', @{ $n->{tags} }) eq $e->{tags}
		  && $n->{updatedAt} =~ /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/
		  && iso_epoch($n->{updatedAt}) == iso_epoch($e->{product_updated_at});
		my $vs = $n->{variants};
		my $nv = scalar @{ $vrows{$pid} };
		$more_ok = 0 unless @{ $vs->{nodes} } == ($nv < 3 ? $nv : 3)
		  && !!$vs->{pageInfo}{hasNextPage} == ($nv > 3);
		push @follow, [$n->{id}, $vs->{pageInfo}{endCursor}] if $vs->{pageInfo}{hasNextPage};
		for my $v (@{ $vs->{nodes} }) { push @{ $got_v{$pid} }, $v }
	}
	is($bad_p, 0, 'product fields match expected rows (status upper case, tags array, updatedAt in UTC)');
	ok($more_ok, 'variants(first: 3): 3 variants at most, hasNextPage iff the product has more');
	my $big_calls = 0;
	for my $f (@follow) {
		my ($gid, $after) = @$f;
		my ($pid) = $gid =~ /(\d+)$/;
		while (1) {
			my ($dv, $rv) = gql($eps, $Q_VARIANTS, { id => $gid, first => 100, after => $after });
			die "variants: $rv->{content}" unless $dv->{data}{product};
			$big_calls++ if @{ $vrows{$pid} } == 300;
			push @{ $got_v{$pid} }, @{ $dv->{data}{product}{variants}{nodes} };
			last unless $dv->{data}{product}{variants}{pageInfo}{hasNextPage};
			$after = $dv->{data}{product}{variants}{pageInfo}{endCursor};
		}
	}
	is($big_calls, 3, 'the 300-variant product: 3 + 100 + 100 + 97 in 3 ProductVariants calls');
	for my $pid (keys %vrows) {
		my $want = $vrows{$pid};
		my $got  = $got_v{$pid} // [];
		if (@$got != @$want) { $bad_v++; next }
		for my $k (0 .. $#$want) {
			my ($g, $w) = ($got->[$k], $want->[$k]);
			$bad_v++ unless $g->{id} eq "gid://shopify/ProductVariant/$w->{sku_id}"
			  && $g->{position} == $k + 1 && $g->{position} =~ /^\d+$/
			  && (($g->{sku} // "\0") eq ($w->{sku} // "\0")) && $g->{title} eq $w->{variant_title}
			  && (($g->{barcode} // "\0") eq ($w->{barcode} // "\0")) && $g->{price} eq $w->{price}
			  && (($g->{compareAtPrice} // "\0") eq ($w->{compare_at_price} // "\0"))
			  && $g->{inventoryQuantity} == $w->{inventory_quantity} && $g->{inventoryQuantity} =~ /^-?\d+$/
			  && $g->{inventoryItem}{id} eq "gid://shopify/InventoryItem/$w->{inventory_item_id}"
			  && $g->{updatedAt} =~ /Z$/ && iso_epoch($g->{updatedAt}) == iso_epoch($w->{variant_updated_at});
		}
	}
	is($bad_v, 0, 'every variant exactly once, in position order, fields as expected (' . scalar(@$rows) . ' variants)');

	# -- a product updated while paginating moves to the end and is listed again
	my $moved;
	($nodes) = gql_walk($eps, 7, 1, undef, sub {
		return unless $_[0] == 1;
		$moved = $_[1][2]{id};
		my ($pid) = $moved =~ /(\d+)$/;
		$s->mutate($EPS, { ops => [{ op => 'touch', product_id => 0 + $pid }] });
	});
	is(scalar(grep { $_->{id} eq $moved } @$nodes), 2, 'a product touched mid-pagination is listed again');
	is($nodes->[-1]{id}, $moved, '... at the end');

	# -- updated_at filter
	my $m = $s->mutate($EPS, { update => 4, create => 2, seed => 11 });
	my $since = strftime('%Y-%m-%dT%H:%M:%SZ', gmtime($m->{ts}));
	my $q = "updated_at:>='$since'";
	($nodes) = gql_walk($eps, 3, 2, $q);
	is_deeply([sort { $a <=> $b } map { /(\d+)$/ } map { $_->{id} } @$nodes], $m->{touched},
		'updated_at:>= returns exactly the mutated products');
	is(gql($eps, $Q_COUNT, { query => $q })->{data}{productsCount}{count}, scalar @{ $m->{touched} },
		'... and ShopifySyncCount agrees');
	($nodes) = gql_walk($eps, 50, 1, "updated_at:>'$since'");
	is(scalar @$nodes, 0, 'updated_at:> the same instant: nothing');
	my $p1 = (gql_products_page($eps, 2, 1, undef, $q))[0]{data}{products}{pageInfo}{endCursor};
	$d = gql($eps, $Q_PRODUCTS, { first => 2, after => $p1, query => undef, variantsFirst => 1 });
	ok($d->{errors} && !$d->{data}, 'a cursor reused with another query is refused');
	$d = gql($eps, $Q_PRODUCTS, { first => 2, after => undef, query => 'status:active', variantsFirst => 1 });
	ok($d->{errors} && $d->{errors}[0]{message} =~ /updated_at/, 'other search filters -> GraphQL error');
	$d = gql($eps, $Q_PRODUCTS, { first => 251, after => undef, query => undef, variantsFirst => 1 });
	ok($d->{errors} && !$d->{data}, 'first=251 -> GraphQL error');
	my $m2 = $s->mutate($EPS, { delete => 1, seed => 12 });
	$d = gql($eps, $Q_VARIANTS, { id => "gid://shopify/Product/$m2->{deleted}[0]", first => 5, after => undef });
	is_deeply($d->{data}, { product => undef }, 'deleted product -> "product": null');

	# -- errors, auth, faults
	($d, $res) = gql($eps, $Q_SHOP, undef, token => 'shpat_wrong');
	is($res->{status}, 401, 'GraphQL with a bad token -> 401');
	is_deeply($d, { errors => '[API] Invalid API key or access token (unrecognized login or wrong password)' },
		'... REST body, no extensions');
	($d, $res) = gql($eps, undef, undef, raw_body => '{"query": ');
	is($res->{status}, 400, 'invalid JSON -> 400');
	is_deeply($d, { errors => { query => 'Required parameter missing or invalid' } }, '... Shopify body');
	($d, $res) = gql($eps, undef, undef, raw_body => '{"variables": {}}');
	is($res->{status}, 400, 'missing query -> 400');
	($d, $res) = gql($eps, 'query SomethingElse { nope(first: 1) { nodes { id } } }');
	is($res->{status}, 200, 'a field the schema does not have -> 200');
	is($d->{errors}[0]{message}, "Field 'nope' doesn't exist on type 'QueryRoot'", '... undefinedField message');
	is($d->{errors}[0]{extensions}{code}, 'undefinedField', '... code');
	$s->faults({ shop => $EPS, next => 1, kinds => ['503'], paths => ['products'] });
	is((gql($eps, $Q_SHOP))[1]{status}, 200, 'a fault limited to paths=[products] spares graphql.json');
	$s->faults({ shop => $EPS, next => 1, kinds => ['503'], paths => ['graphql'] });
	is((gql($eps, $Q_SHOP))[1]{status}, 503, 'paths=[graphql]: 503 fault on GraphQL');
	is((gql($eps, $Q_SHOP))[1]{status}, 200, '... once');
	$s->clear_faults;

	# -- cost accounting
	my ($big_gid) = map { "gid://shopify/Product/$_" } grep { @{ $vrows{$_} } == 300 } keys %vrows;
	$s->set_graphql($EPS, { maximum => 2000, restore => 100 });
	my $t0 = time();
	($d, $res) = gql_products_page($eps, 10, 5, undef, undef);
	my $t1 = time();
	my $c = $d->{extensions}{cost};
	my $actual = 2;
	$actual += 3 + 2 * scalar @{ $_->{variants}{nodes} } for @{ $d->{data}{products}{nodes} };
	is($c->{requestedQueryCost}, 2 + 10 * (3 + 2 * 5), 'requestedQueryCost = 2 + first*(3 + 2*variantsFirst)');
	is($c->{actualQueryCost}, $actual, "actualQueryCost = 2 + sum(3 + 2*variants returned) = $actual");
	is_deeply([ @{ $c->{throttleStatus} }{qw(maximumAvailable restoreRate)} ], [2000, 100], 'throttleStatus 2000/100');
	my $a1 = $c->{throttleStatus}{currentlyAvailable};
	ok($a1 >= 2000 - $actual - 0.01 && $a1 <= 2000 - $actual + 100 * ($t1 - $t0) + 0.01,
		"currentlyAvailable = 2000 - actual ($a1)");
	($d) = gql($eps, $Q_VARIANTS, { id => $big_gid, first => 20, after => undef });
	my $t2 = time();
	$c = $d->{extensions}{cost};
	is_deeply([ @$c{qw(requestedQueryCost actualQueryCost)} ], [43, 43], 'ProductVariants first=20 costs 3 + 2*20');
	my $a2 = $c->{throttleStatus}{currentlyAvailable};
	ok($a2 >= $a1 - 43 - 0.01 && $a2 <= $a1 - 43 + 100 * ($t2 - $t0) + 0.01,
		"bucket arithmetic: $a1 - 43 + restore*elapsed = $a2");
	sleep(0.5);
	($d) = gql($eps, $Q_SHOP);
	my $a3 = $d->{extensions}{cost}{throttleStatus}{currentlyAvailable};
	ok($a3 >= $a2 + 50 - 2 - 0.01, "restored at 100/s: $a2 -> $a3 after 0.5 s (the shop query costs 2)");
	my $log = $s->shop_stats($EPS)->{requests_log}[-1];
	is_deeply([ @$log[1 .. 5] ], ['POST', "/admin/api/$V/graphql.json", 'ShopifySyncShop', 200, $a3],
		'requests_log: operation name and available after');

	$s->reset_stats;
	$s->set_graphql($EPS, { maximum => 50, restore => 1 });
	my @codes;
	for (1 .. 3) {
		($d, $res) = gql($eps, $Q_VARIANTS, { id => $big_gid, first => 10, after => undef });
		push @codes, $res->{status} . ':' . ($d->{errors} ? $d->{errors}[0]{extensions}{code} : 'ok');
	}
	is_deeply(\@codes, ['200:ok', '200:ok', '200:THROTTLED'], 'maximum 50: 23 + 23 pass, the third is THROTTLED (HTTP 200)');
	$c = $d->{extensions}{cost};
	ok(!defined $c->{actualQueryCost} && $c->{requestedQueryCost} == 23
		&& $c->{throttleStatus}{currentlyAvailable} < 23 && !exists $d->{data},
		'... actualQueryCost null, nothing served');
	is($d->{errors}[0]{message}, 'Throttled', '... message');
	my $before = $c->{throttleStatus}{currentlyAvailable};
	($d) = gql($eps, $Q_SHOP);
	ok($d->{extensions}{cost}{throttleStatus}{currentlyAvailable} <= $before - 2 + 0.5
		&& $d->{extensions}{cost}{throttleStatus}{currentlyAvailable} >= $before - 2 - 0.01,
		'... and nothing was deducted for it');
	my $cost = 2 + 250 * (3 + 2 * 250);
	($d, $res) = gql($eps, $Q_PRODUCTS, { first => 250, after => undef, query => undef, variantsFirst => 250 });
	is($res->{status}, 200, 'first=250/variantsFirst=250 -> HTTP 200');
	is($d->{errors}[0]{message}, "Query cost is $cost, which exceeds the single query max cost limit (1000).",
		'... MAX_COST_EXCEEDED message');
	is_deeply([ @{ $d->{errors}[0]{extensions} }{qw(code cost maxCost)} ], ['MAX_COST_EXCEEDED', $cost, 1000],
		'... extensions code, cost, maxCost');
	my $st = $s->shop_stats($EPS);
	is_deeply([ @$st{qw(graphql_requests throttled_graphql max_cost_exceeded)} ], [5, 1, 1],
		'stats: graphql_requests, throttled_graphql, max_cost_exceeded');
	$s->set_graphql($EPS, { maximum => 100000, restore => 100000 });
}

# --- bulk operations -------------------------------------------------------------------
sub bulk_start {
	my (%o) = @_;
	my ($d, $res) = gql($o{shop} // $eps, $Q_BULK_START, { query => $o{query} // $BULK_QUERY },
		version => $o{version} // $V);
	die "bulk start: $res->{content}" unless $d->{data};
	return $d->{data}{bulkOperationRunQuery};
}

# Poll until a final status; returns (node, [distinct statuses in order]).
sub bulk_wait {
	my ($gid, $timeout, $shop) = @_;
	my $deadline = time() + ($timeout // 15);
	my (@seq, $n);
	while (1) {
		my ($d, $res) = gql($shop // $eps, $Q_BULK_STATUS, { id => $gid });
		$n = $d->{data}{node} or die "bulk status: $res->{content}";
		push @seq, $n->{status} unless @seq && $seq[-1] eq $n->{status};
		last if $n->{status} =~ /^(COMPLETED|FAILED|CANCELED|EXPIRED)$/ || time() > $deadline;
		sleep(0.02);
	}
	return ($n, \@seq);
}

sub bulk_op_info {
	my ($gid) = @_;
	my ($op) = grep { $_->{id} eq $gid } @{ $s->bulk_info($EPS)->{operations} };
	return $op;
}

{
	my $rows = $s->expected($EPS, 'graphql');
	my %want_p = map { ("gid://shopify/Product/$_->{product_id}" => 1) } @$rows;
	my %want_v = map { ("gid://shopify/ProductVariant/$_->{sku_id}" => 1) } @$rows;

	$s->set_bulk($EPS, { delay_s => 0.6 });
	my $start = bulk_start();
	is_deeply($start->{userErrors}, [], 'bulkOperationRunQuery: no userErrors');
	is($start->{bulkOperation}{status}, 'CREATED', '... status CREATED');
	like($start->{bulkOperation}{id}, qr{^gid://shopify/BulkOperation/\d+$}, '... BulkOperation gid');
	my $gid = $start->{bulkOperation}{id};
	my ($n, $seq) = bulk_wait($gid);
	is_deeply($seq, [qw(CREATED RUNNING COMPLETED)], 'CREATED -> RUNNING -> COMPLETED');
	my $port = $s->port;
	like($n->{url}, qr{^http://127\.0\.0\.1:$port/_bulk/[A-Za-z0-9_-]+\.jsonl$}, 'url on the stand-in');
	ok($n->{objectCount} =~ /^\d+$/ && $n->{fileSize} =~ /^\d+$/, 'objectCount and fileSize are digit strings');
	my (undef, $rs) = gql($eps, $Q_BULK_STATUS, { id => $gid });
	like($rs->{content}, qr/"objectCount":"\d+","fileSize":"\d+"/, '... as JSON strings');
	ok(!defined $n->{errorCode} && !defined $n->{partialDataUrl}
		&& $n->{createdAt} =~ /Z$/ && $n->{completedAt} =~ /Z$/, 'errorCode/partialDataUrl null, timestamps in UTC');
	is(gql($eps, $Q_BULK_CURRENT)->{data}{currentBulkOperation}{id}, $gid, 'currentBulkOperation(type: QUERY)');
	is_deeply(gql($eps, $Q_BULK_STATUS, { id => 'gid://shopify/BulkOperation/999999' })->{data}, { node => undef },
		'unknown operation id -> node null');

	my $plain = HTTP::Tiny->new(timeout => 20);
	my $dl = $plain->get($n->{url});
	is($dl->{status}, 200, 'download without token');
	is(length $dl->{content}, $n->{fileSize}, 'downloaded bytes = fileSize');
	my @lines = split /\n/, $dl->{content};
	is(scalar @lines, $n->{objectCount}, 'JSONL lines = objectCount');
	my (%pseen, %vseen, $order_ok, $not_right_after, $last_p, $shape_ok);
	$order_ok = $shape_ok = 1;
	$not_right_after = 0;
	for my $l (@lines) {
		my $o = $JSON->decode($l);
		if (exists $o->{__parentId}) {
			$vseen{ $o->{id} }++;
			$order_ok = 0 unless $pseen{ $o->{__parentId} };
			$not_right_after++ if $o->{__parentId} ne $last_p;
			$shape_ok = 0 unless $o->{inventoryItem}{id} =~ m{^gid://shopify/InventoryItem/\d+$}
			  && $o->{position} =~ /^\d+$/;
		} else {
			$pseen{ $o->{id} }++;
			$last_p = $o->{id};
			$shape_ok = 0 unless ref $o->{tags} eq 'ARRAY' && $o->{status} =~ /^[A-Z]+$/;
		}
	}
	unlike($dl->{content}, qr/"(?:price|compareAtPrice)":[-0-9]/, 'JSONL prices are strings');
	ok($shape_ok, 'JSONL line shapes');
	is_deeply([sort keys %pseen], [sort keys %want_p], 'every product once');
	is_deeply([sort keys %vseen], [sort keys %want_v], 'every variant once (the 300 included)');
	ok($order_ok, 'every variant line comes after its parent line');
	ok($not_right_after > 0, "$not_right_after variant lines are not in their parent's block");
	my $op = bulk_op_info($gid);
	is($op->{downloads}, 1, 'bulk_info counts the download');
	is($op->{download_log}[0]{bytes}, $n->{fileSize}, '... with the bytes served');

	my $r = $plain->get($n->{url}, { headers => { Range => 'bytes=0-99' } });
	ok($r->{status} == 206 && length($r->{content}) == 100, 'Range: bytes=0-99 -> 206, 100 bytes');

	# download faults (paths filter) and pacing
	$s->faults({ shop => $EPS, next => 1, kinds => ['reset'], paths => ['/_bulk/'] });
	is((gql($eps, $Q_SHOP))[1]{status}, 200, 'a /_bulk/ fault spares GraphQL');
	$r = $plain->get($n->{url});
	is($r->{status}, 599, 'reset fault mid-download -> connection error');
	$op = bulk_op_info($gid);
	my $last = $op->{download_log}[-1];
	ok(!$last->{complete} && $last->{fault} eq 'reset' && $last->{bytes} < $n->{fileSize}
		&& $last->{bytes} > 0, "... after $last->{bytes} of $n->{fileSize} bytes");
	$s->faults({ shop => $EPS, next => 1, kinds => ['truncated'], paths => ['/_bulk/'] });
	$plain->get($n->{url});      # HTTP::Tiny retries a GET after "Unexpected end"
	($last) = grep { ($_->{fault} // '') eq 'truncated' } @{ bulk_op_info($gid)->{download_log} };
	ok($last && !$last->{complete} && $last->{bytes} == int($n->{fileSize} / 2),
		'truncated fault: half the file, then close');
	$s->clear_faults;
	$s->set_bulk($EPS, { download_bytes_per_s => 400_000 });
	my $t = time();
	$r = $plain->get($n->{url});
	my $dt = time() - $t;
	my $min = ($n->{fileSize} - 20_000) / 400_000;
	ok($r->{status} == 200 && length($r->{content}) == $n->{fileSize} && $dt >= $min,
		sprintf('download_bytes_per_s 400000: %.2f s for %d bytes', $dt, $n->{fileSize}));
	$s->set_bulk($EPS, { download_bytes_per_s => undef, delay_s => 0.1 });

	# truncate_lines: a silently truncated result
	$s->set_bulk($EPS, { truncate_lines => 5 });
	($n) = bulk_wait(bulk_start()->{bulkOperation}{id});
	is($n->{status}, 'COMPLETED', 'truncate_lines: COMPLETED');
	$r = $plain->get($n->{url});
	my $nl = () = $r->{content} =~ /\n/g;
	is($nl, $n->{objectCount} - 5, '... the file misses the last 5 lines of objectCount');
	ok(length($r->{content}) < $n->{fileSize} && $r->{content} =~ /\n\z/, '... and ends on a line boundary');
	$s->set_bulk($EPS, { truncate_lines => 0 });

	# concurrency: 5 operations at once from 2026-01 on (the 6th refused), 1 before; cancel; busy_s
	$s->set_bulk($EPS, { delay_s => 5 });
	my @five = map { bulk_start()->{bulkOperation}{id} } 1 .. 5;
	is(scalar(grep { defined } @five), 5, "$V: 5 bulk operations in progress at once");
	my $opb = bulk_start();
	ok(!defined $opb->{bulkOperation}, '... a 6th start: bulkOperation null');
	is_deeply($opb->{userErrors}, [{ field => undef, code => 'OPERATION_IN_PROGRESS',
		message => "A bulk query operation for this app and shop is already in progress: $five[0]." }],
		'... OPERATION_IN_PROGRESS naming one in progress');
	my $opa = $five[0];
	my $cn = gql($eps, $Q_BULK_CANCEL, { id => $opa })->{data}{bulkOperationCancel};
	ok($cn->{bulkOperation}{status} eq 'CANCELING' && !@{ $cn->{userErrors} }, 'bulkOperationCancel -> CANCELING');
	($n, $seq) = bulk_wait($opa, 3);
	is_deeply($seq, [qw(CANCELING CANCELED)], '... then CANCELED');
	ok(!defined $n->{url}, '... without url');
	$cn = gql($eps, $Q_BULK_CANCEL, { id => $opa })->{data}{bulkOperationCancel};
	ok(@{ $cn->{userErrors} } == 1, 'cancelling a canceled operation -> userError');
	is(gql($eps, $Q_BULK_CANCEL, { id => $_ })->{data}{bulkOperationCancel}{bulkOperation}{status}, 'CANCELING',
		"cancel $_") for @five[1 .. 4];
	bulk_wait($_, 3) for @five[1 .. 4];
	my $old = bulk_start(version => '2025-10');
	ok($old->{bulkOperation}, '2025-10: one bulk operation starts');
	$opb = bulk_start(version => '2025-10');
	ok(!defined $opb->{bulkOperation} && $opb->{userErrors}[0]{code} eq 'OPERATION_IN_PROGRESS'
		&& $opb->{userErrors}[0]{message} =~ /\Q$old->{bulkOperation}{id}\E\.$/,
		'... a second is refused (one at a time before 2026-01)');
	gql($eps, $Q_BULK_CANCEL, { id => $old->{bulkOperation}{id} });
	bulk_wait($old->{bulkOperation}{id}, 3);

	$s->set_bulk($EPS, { delay_s => 0.1, busy_s => 1 });
	$opb = bulk_start(version => '2025-10');
	ok(!defined $opb->{bulkOperation} && $opb->{userErrors}[0]{code} eq 'OPERATION_IN_PROGRESS',
		'busy_s: start refused with OPERATION_IN_PROGRESS (2025-10)');
	$s->set_bulk($EPS, { busy_s => 1, busy_ops => 5 });
	$opb = bulk_start();
	ok(!defined $opb->{bulkOperation} && $opb->{userErrors}[0]{code} eq 'OPERATION_IN_PROGRESS',
		"busy_ops 5: all of $V\'s 5 places taken, start refused");
	$s->set_bulk($EPS, { busy_s => 0 });

	$s->set_bulk($EPS, { fail => 'TIMEOUT' });
	($n) = bulk_wait(bulk_start()->{bulkOperation}{id});
	ok($n->{status} eq 'FAILED' && $n->{errorCode} eq 'TIMEOUT' && !defined $n->{url},
		'fail: FAILED with errorCode TIMEOUT, no url');
	$r = $plain->get($n->{partialDataUrl} // 'http://127.0.0.1:1/');
	$nl = () = ($r->{content} // '') =~ /\n/g;
	ok($r->{status} == 200 && $nl == $n->{objectCount} && $nl > 0, "... partialDataUrl serves $nl lines");

	$s->set_bulk($EPS, { fail => undef, expire => JSON::PP::true });
	($n) = bulk_wait(bulk_start()->{bulkOperation}{id});
	ok($n->{status} eq 'EXPIRED' && !defined $n->{url}, 'expire: EXPIRED without url');

	$s->set_bulk($EPS, { expire => JSON::PP::false, cancel_after_s => 0.2 });
	($n) = bulk_wait(bulk_start()->{bulkOperation}{id});
	is($n->{status}, 'CANCELED', 'cancel_after_s: CANCELED');
	$s->set_bulk($EPS, { reset => JSON::PP::true });
	my $ops = $s->bulk_info($EPS)->{operations};
	is(scalar @$ops, 11, 'bulk_info lists the 11 operations');
	is_deeply([ map { "$_->{api_version}:" . ($_->{groupObjects} ? 1 : 0) } @$ops[0, 7] ], ["$V:0", '2025-10:1'],
		'... with the version and groupObjects (defaults: false from 2026-01, true before)');
	is($ops->[0]{query}, $BULK_QUERY, '... and the inner query');
}

# --- orders ------------------------------------------------------------------------------
my $ZETA = 'zeta.myshopify.com';
my $OF = 'id name createdAt processedAt updatedAt cancelledAt displayFinancialStatus displayFulfillmentStatus '
  . 'currencyCode totalPriceSet { shopMoney { amount currencyCode } } subtotalPriceSet { shopMoney { amount } } '
  . 'totalTaxSet { shopMoney { amount } } totalDiscountsSet { shopMoney { amount } } '
  . 'totalRefundedSet { shopMoney { amount } }';
my $LF = 'pageInfo { hasNextPage endCursor } nodes { id sku title quantity variant { id } product { id } '
  . 'originalUnitPriceSet { shopMoney { amount } } }';
my $Q_ORDERS_COUNT = 'query ShopifySyncOrdersCount($query: String) { ordersCount(query: $query, limit: null) '
  . '{ count precision } }';
my $Q_ORDERS = 'query ShopifySyncOrders($first: Int!, $after: String, $query: String, $linesFirst: Int!) '
  . '{ orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) { pageInfo { hasNextPage endCursor } '
  . "nodes { $OF lineItems(first: \$linesFirst) { $LF } } } }";
my $Q_ORDER_LINES = 'query ShopifySyncOrderLines($id: ID!, $first: Int!, $after: String) { order(id: $id) '
  . "{ $OF lineItems(first: \$first, after: \$after) { $LF } } }";

# "12.34" / "12.5" / "10" -> cents (integer arithmetic only)
sub cents {
	my ($v) = @_;
	return undef unless defined $v;
	$v =~ /^(\d+)(?:\.(\d{1,2}))?$/ or return -1;
	return $1 * 100 + (defined $2 ? (length $2 == 1 ? $2 * 10 : $2) : 0);
}
sub money_str { my $c = shift; sprintf('%d.%02d', int($c / 100), $c % 100) }

# All pages of orders.json from $url; returns ([orders], pages, Link format ok).
sub walk_orders {
	my ($shop, $url) = @_;
	my (@all, $n);
	my $fmt_ok = 1;
	while ($url) {
		my $r = get($shop, $url);
		die "GET $url: $r->{status} $r->{content}" unless $r->{status} == 200;
		$n++;
		my $l = links($r);
		$fmt_ok = 0 if $l->{bad} || ($n > 1 && !$l->{previous});
		$fmt_ok = 0 if $l->{next} && $l->{next} !~ m{^https://\Q$shop->{domain}\E/admin/api/$V/orders\.json\?limit=\d+&page_info=};
		push @all, @{ body($r)->{orders} };
		$url = $l->{next};
		die 'runaway order pagination' if $n > 1000;
	}
	return (\@all, $n, $fmt_ok);
}

# orders_stats recomputed from orders_expected, per the README definitions.
sub stats_from_rows {
	my ($exp, $now) = @_;
	my ($rev, $rev30, $kept, %units, %cancelled) = (0, 0, 0);
	for my $o (@{ $exp->{orders} }) {
		if (defined $o->{cancelled_at}) { $cancelled{ $o->{order_id} } = 1; next }
		$kept++;
		my $net = cents($o->{total_price}) - cents($o->{total_refunded});
		$rev += $net;
		$rev30 += $net if iso_epoch($o->{processed_at}) >= $now - 30 * 86400;
	}
	for my $l (@{ $exp->{lines} }) {
		$units{ $l->{sku_id} } += $l->{quantity} if defined $l->{sku_id} && !$cancelled{ $l->{order_id} };
	}
	my @top = (sort { $units{$b} <=> $units{$a} || $a <=> $b } keys %units)[0 .. 4];
	return { order_count => scalar @{ $exp->{orders} }, total_revenue => money_str($rev),
		revenue_last_30_days => money_str($rev30),
		average_order_value => money_str($kept ? int((2 * $rev + $kept) / (2 * $kept)) : 0),
		top_variants => [map { { sku_id => 0 + $_, units => $units{$_} } } grep { defined } @top] };
}

# Shopify's cost rules: an order 1, its five money sets 2 each, its lineItems connection 2,
# a line item 1 + variant 1 + product 1 + money set 2 (null objects cost nothing).
sub order_actual {
	my ($o) = @_;
	my $c = 1 + 10 + 2;
	$c += 3 + (defined $_->{variant} ? 1 : 0) + (defined $_->{product} ? 1 : 0) for @{ $o->{lineItems}{nodes} };
	return $c;
}

sub gql_orders_walk {
	my ($shop, $first, $lfirst, $query) = @_;
	my ($after, @nodes, $pages, $cost_ok);
	$cost_ok = 1;
	while (1) {
		my ($d, $res) = gql($shop, $Q_ORDERS, { first => $first, after => $after, query => $query,
			linesFirst => $lfirst });
		die "orders page: $res->{status} $res->{content}" unless $res->{status} == 200 && $d->{data};
		$pages++;
		my $c = $d->{extensions}{cost};
		my $actual = 2;
		$actual += order_actual($_) for @{ $d->{data}{orders}{nodes} };
		$cost_ok = 0 unless $c->{requestedQueryCost} == 2 + $first * (13 + 5 * $lfirst)
		  && $c->{actualQueryCost} == $actual;
		push @nodes, @{ $d->{data}{orders}{nodes} };
		my $pi = $d->{data}{orders}{pageInfo};
		last unless $pi->{hasNextPage};
		$after = $pi->{endCursor};
		die 'runaway graphql order pagination' if $pages > 1000;
	}
	return (\@nodes, $pages, $cost_ok);
}

{
	my $exp = $s->orders_expected($ZETA);
	my @eo = @{ $exp->{orders} };
	my @el = @{ $exp->{lines} };
	is(scalar @eo, 600, 'zeta: 600 expected orders');
	my %var = map { ($_->{sku_id} => $_->{product_id}) } @{ $s->expected($ZETA, 'graphql') };
	my $nnull = grep { !defined $_->{sku_id} } @el;
	is((grep { defined $_->{sku_id} && ($var{ $_->{sku_id} } // -1) != ($_->{product_id} // -2) } @el), 0,
		'order lines reference existing catalog variants with their products');
	ok($nnull > 0 && $nnull < 0.06 * @el, "$nnull of " . scalar(@el) . ' lines have no variant');
	my %line_count; $line_count{ $_->{order_id} }++ for @el;
	is((grep { $_->{line_item_count} != ($line_count{ $_->{order_id} } // 0) || $_->{line_item_count} < 1 } @eo), 0,
		'line_item_count matches the lines');
	is_deeply([map { $_->{name} } @eo], [map { '#' . (1000 + $_) } 1 .. 600], 'names #1001.. in id order');
	ok(!@{ $s->orders_expected('beta.myshopify.com')->{orders} }, 'a shop without orders config has none');

	# -- REST: status=any vs the default (open), pagination
	my $n_any = body(get($zeta, "/admin/api/$V/orders/count.json?status=any"))->{count};
	my $n_def = body(get($zeta, "/admin/api/$V/orders/count.json"))->{count};
	is($n_any, 600, 'count.json?status=any: all orders');
	my ($all, $pages, $fmt_ok) = walk_orders($zeta, "/admin/api/$V/orders.json?limit=250&status=any");
	is($pages, 3, 'status=any, limit=250: 3 pages');
	ok($fmt_ok, '... Link headers well formed');
	is_deeply([map { $_->{id} } @$all], [map { $_->{order_id} } @eo], '... every order once, in id order');
	my @open = grep { !defined $_->{closed_at} && !defined $_->{cancelled_at} } @$all;
	my ($def, $dpages) = walk_orders($zeta, "/admin/api/$V/orders.json?limit=37");
	is_deeply([map { $_->{id} } @$def], [map { $_->{id} } @open], "default status=open: neither closed nor cancelled ($dpages pages)");
	ok($n_def == @open && $n_def < $n_any && $n_def > 0, "count.json default counts open orders only ($n_def of $n_any)");
	my $n_canc = grep { defined $_->{cancelled_at} } @$all;
	my $n_clos = grep { defined $_->{closed_at} } @$all;
	is(body(get($zeta, "/admin/api/$V/orders/count.json?status=cancelled"))->{count}, $n_canc, "status=cancelled ($n_canc)");
	is(body(get($zeta, "/admin/api/$V/orders/count.json?status=closed"))->{count}, $n_clos, "status=closed ($n_clos)");
	ok((!grep { defined $_->{cancelled_at} && !defined $_->{closed_at} } @$all), 'cancelled orders are closed');
	my $r = get($zeta, "/admin/api/$V/orders.json?limit=5&status=any");
	my ($ptok) = links($r)->{next} =~ /page_info=([^&>]+)/;
	$r = get($zeta, "/admin/api/$V/orders.json?page_info=$ptok&status=any");
	is($r->{status}, 400, 'orders.json: page_info + status -> 400');
	like(body($r)->{errors}, qr/^status cannot be passed when page_info is present$/, '... message');
	is(get($zeta, "/admin/api/$V/products.json?page_info=$ptok")->{status}, 400,
		'an orders page_info is refused by products.json');
	is(get($zeta, "/admin/api/$V/orders.json?status=bogus")->{status}, 400, 'status=bogus -> 400');
	$r = get($zeta, "/admin/api/$V/orders.json?limit=3&status=any&fields=id,name,total_price");
	is_deeply([sort keys %{ body($r)->{orders}[0] }], [qw(id name total_price)], 'fields trims the order keys');
	$r = get($zeta, "/admin/api/$V/orders.json?status=any&since_id=$eo[-3]{order_id}");
	is_deeply([map { $_->{id} } @{ body($r)->{orders} }], [map { $_->{order_id} } @eo[-2, -1]], 'since_id');
	$r = get($zeta, "/admin/api/$V/orders.json?status=any&ids=$eo[5]{order_id},$eo[1]{order_id}");
	is_deeply([map { $_->{id} } @{ body($r)->{orders} }], [map { $_->{order_id} } @eo[1, 5]], 'ids, in id order');
	my $cmin = $eo[-10]{created_at};
	is(body(get($zeta, "/admin/api/$V/orders/count.json?status=any&created_at_min=" . enc($cmin)))->{count}, 10,
		'created_at_min (inclusive)');
	$r = get($zeta, "/admin/api/$V/orders/$eo[7]{order_id}.json");
	is_deeply(body($r)->{order}, $all->[7], 'orders/{id}.json is the listed order');
	is_deeply($s->order($ZETA, $eo[7]{order_id}), $all->[7], 'control orders/{id}: the REST JSON');
	is(get($zeta, "/admin/api/$V/orders/1.json")->{status}, 404, 'unknown order -> 404');
	unlike(get($zeta, "/admin/api/$V/orders.json?status=any&limit=250")->{content},
		qr/"(?:price|amount|total_price|subtotal_price|total_tax|total_discounts)":-?[0-9]/, 'no numeric amounts in REST');

	# -- arithmetic, statuses, refunds, and REST == expected rows
	my (%bad, $n_fail, $n_part, $n_full, $n_two, $n_failonly);
	$n_fail = $n_part = $n_full = $n_two = $n_failonly = 0;
	my %elines; push @{ $elines{ $_->{order_id} } }, $_ for @el;
	for my $k (0 .. $#$all) {
		my ($o, $e) = ($all->[$k], $eo[$k]);
		my @amt = @$o{qw(total_price subtotal_price total_tax total_discounts)};
		$bad{format}++ if grep { !/^\d+\.\d\d$/ } @amt, map { $_->{price} } @{ $o->{line_items} };
		my ($tot, $sub, $tax, $disc) = map { cents($_) } @amt;
		my $sum = 0;
		$sum += cents($_->{price}) * $_->{quantity} for @{ $o->{line_items} };
		$bad{subtotal}++ unless $sub == $sum;
		$bad{total}++ unless $tot == $sub - $disc + $tax;
		$bad{qty}++ if grep { $_->{quantity} < 1 || $_->{quantity} > 4 } @{ $o->{line_items} };
		my ($ref, $nref) = (0, 0);
		for my $rf (@{ $o->{refunds} }) {
			my $ok = 0;
			for my $t (@{ $rf->{transactions} }) {
				$bad{txn}++ unless $t->{kind} eq 'refund' && $t->{currency} eq 'USD' && $t->{amount} =~ /^\d+\.\d\d$/;
				if ($t->{status} eq 'success') { $ref += cents($t->{amount}); $ok = 1 }
				elsif ($t->{status} eq 'failure') { $n_fail++ }
				else { $bad{txn}++ }
			}
			$nref += $ok;
			$n_failonly++ unless $ok;
		}
		my $fs = $o->{financial_status};
		if (defined $o->{cancelled_at}) {
			$bad{cancelled}++ unless ($fs eq 'voided' && $ref == 0) || ($fs eq 'refunded' && $ref == $tot);
		} elsif ($fs eq 'refunded') {
			$n_full++;
			$bad{refunded}++ unless $ref == $tot && $nref >= 1 && $nref <= 2;
		} elsif ($fs eq 'partially_refunded') {
			$n_part++;
			$n_two++ if $nref == 2;
			$bad{partial}++ unless $ref > 0 && $ref < $tot && $nref >= 1 && $nref <= 2;
		} else {
			$bad{status}++ unless $fs =~ /^(paid|pending|authorized)$/ && $ref == 0;
		}
		$bad{fulfillment}++ unless !defined $o->{fulfillment_status} || $o->{fulfillment_status} =~ /^(fulfilled|partial)$/;
		my @ts = map { iso_epoch($o->{$_}) } qw(created_at processed_at updated_at);
		$bad{times}++ unless $ts[0] <= $ts[1] && $ts[1] <= $ts[2] && $ts[2] <= time() + 1 && $ts[0] >= time() - 121 * 86400
		  && (!defined $o->{cancelled_at} || iso_epoch($o->{cancelled_at}) <= $ts[2]);
		my %want = (order_id => $o->{id}, name => $o->{name}, line_item_count => scalar @{ $o->{line_items} },
			total_refunded => money_str($ref), currency => $o->{currency},
			map { ($_ => $o->{$_}) } qw(created_at processed_at updated_at cancelled_at financial_status
				fulfillment_status total_price subtotal_price total_tax total_discounts));
		$bad{expected_order}++ unless Test::More::eq_hash(\%want, $e);
		my @wl = map { { order_id => $o->{id}, line_id => $_->{id}, sku_id => $_->{variant_id},
			product_id => $_->{product_id}, quantity => $_->{quantity}, price => $_->{price} } } @{ $o->{line_items} };
		$bad{expected_lines}++ unless Test::More::eq_array(\@wl, $elines{ $o->{id} } // []);
	}
	is_deeply(\%bad, {}, 'every order: 2-decimal strings, subtotal = sum(price*qty), total = subtotal - discounts + tax, '
		. 'statuses consistent with refunds/cancellation, timestamps ordered, expected rows = REST');
	ok($n_part && $n_full && $n_two && $n_fail, "refunds: $n_part partial ($n_two with two refunds), $n_full full, "
		. "$n_fail failed transactions ($n_failonly failure-only refunds)");
	my %fin; $fin{ $_->{financial_status} }++ for @$all;
	ok(keys %fin >= 5, 'financial statuses: ' . join(', ', map { "$_=$fin{$_}" } sort keys %fin));

	# -- statistics
	my $now = int(time());
	my $st = $s->orders_stats($ZETA, $now);
	my $mine = stats_from_rows($exp, $now);
	is_deeply({ map { ($_ => $st->{$_}) } keys %$mine }, $mine,
		"orders_stats matches the definitions (revenue $st->{total_revenue}, last 30 days $st->{revenue_last_30_days})");
	is($st->{currency}, 'USD', '... currency');

	# -- GraphQL
	my ($d, $res) = gql($zeta, $Q_ORDERS_COUNT, { query => undef });
	is_deeply($d->{data}, { ordersCount => { count => 600, precision => 'EXACT' } }, 'ordersCount: all statuses');
	is($d->{extensions}{cost}{requestedQueryCost}, 1, '... cost 1');
	my ($nodes, $gpages, $cost_ok) = gql_orders_walk($zeta, 40, 2);
	is($gpages, 15, 'ShopifySyncOrders first=40: 15 pages');
	ok($cost_ok, '... requested 2 + first*(13 + 5*linesFirst), actual what came back');
	my @keys = map { [iso_epoch($_->{updatedAt}), ($_->{id} =~ /(\d+)$/)[0]] } @$nodes;
	ok((!grep { $keys[$_ - 1][0] > $keys[$_][0]
		|| ($keys[$_ - 1][0] == $keys[$_][0] && $keys[$_ - 1][1] >= $keys[$_][1]) } 1 .. $#keys),
		'... sorted by (updatedAt, id)');
	my %eo = map { ($_->{order_id} => $_) } @eo;
	my %FGQL = ('' => 'UNFULFILLED', fulfilled => 'FULFILLED', partial => 'PARTIALLY_FULFILLED');
	my (%glines, $lcalls, $lcost_ok);
	$lcost_ok = 1;
	my %gbad;
	for my $n (@$nodes) {
		my ($oid) = $n->{id} =~ m{^gid://shopify/Order/(\d+)$};
		my $e = $eo{$oid} or do { $gbad{unknown}++; next };
		$gbad{fields}++ unless $n->{name} eq $e->{name}
		  && $n->{displayFinancialStatus} eq uc($e->{financial_status})
		  && $n->{displayFulfillmentStatus} eq $FGQL{ $e->{fulfillment_status} // '' }
		  && $n->{currencyCode} eq 'USD' && $n->{totalPriceSet}{shopMoney}{currencyCode} eq 'USD'
		  && $n->{updatedAt} =~ /Z$/ && iso_epoch($n->{updatedAt}) == iso_epoch($e->{updated_at})
		  && iso_epoch($n->{createdAt}) == iso_epoch($e->{created_at})
		  && iso_epoch($n->{processedAt}) == iso_epoch($e->{processed_at})
		  && (defined $n->{cancelledAt} ? iso_epoch($n->{cancelledAt}) == iso_epoch($e->{cancelled_at} // '')
			: !defined $e->{cancelled_at});
		$gbad{amounts}++ unless cents($n->{totalPriceSet}{shopMoney}{amount}) == cents($e->{total_price})
		  && cents($n->{subtotalPriceSet}{shopMoney}{amount}) == cents($e->{subtotal_price})
		  && cents($n->{totalTaxSet}{shopMoney}{amount}) == cents($e->{total_tax})
		  && cents($n->{totalDiscountsSet}{shopMoney}{amount}) == cents($e->{total_discounts})
		  && cents($n->{totalRefundedSet}{shopMoney}{amount}) == cents($e->{total_refunded});
		$glines{$oid} = [@{ $n->{lineItems}{nodes} }];
		my $pi = $n->{lineItems}{pageInfo};
		$gbad{more}++ unless !!$pi->{hasNextPage} == ($e->{line_item_count} > 2);
		my $after = $pi->{endCursor};
		while ($pi->{hasNextPage}) {
			my ($dl) = gql($zeta, $Q_ORDER_LINES, { id => $n->{id}, first => 2, after => $after });
			$lcalls++;
			my $ord = $dl->{data}{order} or die 'order lines: ' . $JSON->encode($dl);
			$lcost_ok = 0 unless $dl->{extensions}{cost}{requestedQueryCost} == 13 + 5 * 2
			  && $dl->{extensions}{cost}{actualQueryCost} == order_actual($ord) && $ord->{name} eq $e->{name};
			push @{ $glines{$oid} }, @{ $ord->{lineItems}{nodes} };
			$pi = $ord->{lineItems}{pageInfo};
			$after = $pi->{endCursor};
		}
	}
	is_deeply(\%gbad, {}, 'GraphQL order fields match expected rows (upper-case statuses, UTC, decimal amounts)');
	is_deeply([sort { $a <=> $b } keys %glines], [sort { $a <=> $b } keys %eo], 'every order once');
	ok($lcalls && $lcost_ok, "$lcalls ShopifySyncOrderLines calls for orders with more than 2 lines, cost 13 + 5*first (actual: what came back)");
	my $lbad = 0;
	for my $oid (keys %eo) {
		my ($g, $w) = ($glines{$oid} // [], $elines{$oid} // []);
		if (@$g != @$w) { $lbad++; next }
		for my $k (0 .. $#$w) {
			my ($x, $y) = ($g->[$k], $w->[$k]);
			$lbad++ unless $x->{id} eq "gid://shopify/LineItem/$y->{line_id}" && $x->{quantity} == $y->{quantity}
			  && cents($x->{originalUnitPriceSet}{shopMoney}{amount}) == cents($y->{price})
			  && (defined $y->{sku_id} ? ($x->{variant}{id} // '') eq "gid://shopify/ProductVariant/$y->{sku_id}"
				: !defined $x->{variant})
			  && (defined $y->{product_id} ? ($x->{product}{id} // '') eq "gid://shopify/Product/$y->{product_id}"
				: !defined $x->{product});
		}
	}
	is($lbad, 0, 'GraphQL line items = expected lines, in order (variant null without a variant) (' . scalar(@el) . ' lines)');
	($d) = gql($zeta, $Q_ORDER_LINES, { id => 'gid://shopify/Order/1', first => 5, after => undef });
	is_deeply($d->{data}, { order => undef }, 'unknown order -> "order": null');
	($d) = gql($zeta, $Q_ORDERS, { first => 250, after => undef, query => undef, linesFirst => 250 });
	is($d->{errors}[0]{extensions}{code}, 'MAX_COST_EXCEEDED', 'orders first=250/linesFirst=250 -> MAX_COST_EXCEEDED');

	# -- mutations and incremental listing
	my $max_id = $eo[-1]{order_id};
	my $m = $s->orders_mutate($ZETA, { create => 3, update => 4, cancel => 2, refund => 3, seed => 5 });
	is_deeply([map { scalar @{ $m->{$_} } } qw(created updated cancelled refunded)], [3, 4, 2, 3],
		'orders_mutate: 3 created, 4 updated, 2 cancelled, 3 refunded');
	ok((!grep { $_ <= $max_id } @{ $m->{created} }), '... new orders have higher ids');
	my $since = strftime('%Y-%m-%dT%H:%M:%S', gmtime($m->{ts})) . '+00:00';
	my ($inc) = walk_orders($zeta, "/admin/api/$V/orders.json?limit=5&status=any&updated_at_min=" . enc($since));
	is_deeply([map { $_->{id} } @$inc], $m->{touched}, 'REST updated_at_min + status=any: exactly the touched orders');
	my @inc_open = grep { !defined $_->{closed_at} } @$inc;
	is(body(get($zeta, "/admin/api/$V/orders/count.json?updated_at_min=" . enc($since)))->{count}, scalar @inc_open,
		'... without status=any only the open ones (' . scalar(@inc_open) . ' of ' . scalar(@$inc) . ')');
	my $before = strftime('%Y-%m-%dT%H:%M:%S', gmtime($m->{ts} - 1)) . 'Z';
	is(body(get($zeta, "/admin/api/$V/orders/count.json?status=any&updated_at_max=" . enc($before)))->{count}, 600 - 9,
		'updated_at_max (inclusive) one second before: all but the 9 touched old orders');
	my $q = "updated_at:>='" . strftime('%Y-%m-%dT%H:%M:%SZ', gmtime($m->{ts})) . "'";
	($nodes) = gql_orders_walk($zeta, 4, 1, $q);
	is_deeply([sort { $a <=> $b } map { /(\d+)$/ } map { $_->{id} } @$nodes], $m->{touched},
		'GraphQL updated_at:>= returns exactly the touched orders');
	is(gql($zeta, $Q_ORDERS_COUNT, { query => $q })->{data}{ordersCount}{count}, 12, '... ordersCount agrees');
	my ($p1) = gql($zeta, $Q_ORDERS, { first => 2, after => undef, query => $q, linesFirst => 1 });
	($d) = gql($zeta, $Q_ORDERS, { first => 2, after => $p1->{data}{orders}{pageInfo}{endCursor}, query => undef,
		linesFirst => 1 });
	ok($d->{errors} && !$d->{data}, 'an orders cursor reused with another query is refused');
	my $exp2 = $s->orders_expected($ZETA);
	my %e2 = map { ($_->{order_id} => $_) } @{ $exp2->{orders} };
	is(scalar keys %e2, 603, 'orders_expected: 603 orders');
	ok((!grep { !defined $e2{$_}{cancelled_at} || $e2{$_}{financial_status} !~ /^(voided|refunded)$/ }
		@{ $m->{cancelled} }), 'cancelled orders: cancelled_at set, voided or refunded');
	ok((!grep { cents($e2{$_}{total_refunded}) <= cents($eo{$_}{total_refunded})
		|| $e2{$_}{financial_status} !~ /refunded$/ } @{ $m->{refunded} }), 'refunded orders: more refunded, status *refunded');
	is_deeply([map { $e2{$_}{name} } @{ $m->{created} }], ['#1601', '#1602', '#1603'], 'new orders continue the names');
	my $m2 = $s->orders_mutate($ZETA, { ops => [{ op => 'touch', order_id => 0 + $eo[0]{order_id} }] });
	ok($m2->{ts} > $m->{ts}, 'updated_at strictly increases between order mutations');
	my $now2 = int(time());
	is_deeply({ map { ($_ => $s->orders_stats($ZETA, $now2)->{$_}) } qw(order_count total_revenue
		revenue_last_30_days average_order_value top_variants) },
		stats_from_rows($s->orders_expected($ZETA), $now2), 'orders_stats after mutations');
}

# --- GraphQL as Shopify's schema has it (the graphql-js oracle) ---------------------------
{
	my $Z = $ZETA;
	$s->set_graphql($Z, { maximum => 1000, restore => 0 });     # no restore: every point shows
	my $avail = sub { $s->graphql_bucket($Z)->{available} };

	# an invalid field: undefinedField, phrased and placed as Shopify does, nothing charged
	my $bad = 'query Bad { shop { name nope } }';
	my ($d, $res) = gql($zeta, $bad);
	is($res->{status}, 200, 'a field the schema does not have -> HTTP 200');
	is_deeply($d->{errors}, [{ message => "Field 'nope' doesn't exist on type 'Shop'",
		locations => [{ line => 1, column => 1 + index($bad, 'nope') }], path => ['query Bad', 'shop', 'nope'],
		extensions => { code => 'undefinedField', typeName => 'Shop', fieldName => 'nope' } }],
		'... undefinedField with locations, path and extensions');
	ok(!exists $d->{data} && !exists $d->{extensions}, '... no data, no cost');
	is($avail->(), 1000, '... nothing charged');
	is($s->shop_stats($Z)->{invalid_graphql}, 1, '... counted in stats (invalid_graphql)');

	# arguments of the wrong type, missing ones, connections without first/last
	($d) = gql($zeta, '{ products(first: "ten", sortKey: UPDATED_AT) { nodes { id } } }');
	is_deeply([ $d->{errors}[0]{message}, $d->{errors}[0]{extensions}{code} ],
		[ q{Argument 'first' on Field 'products' has an invalid value ("ten"). Expected type 'Int'.},
		  'argumentLiteralsIncompatible' ], 'first: "ten" -> argumentLiteralsIncompatible');
	($d) = gql($zeta, 'query P($n: String) { products(first: $n, sortKey: UPDATED_AT) { nodes { id } } }', { n => '5' });
	is_deeply([ $d->{errors}[0]{message}, $d->{errors}[0]{extensions}{code} ],
		[ 'Type mismatch on variable $n and argument first (String / Int)', 'variableMismatch' ],
		'a String variable for first: Int -> variableMismatch');
	($d) = gql($zeta, 'query P($n: Int!) { products(first: $n, sortKey: UPDATED_AT) { nodes { id } } }', { n => 'x' });
	is($d->{errors}[0]{message}, 'Variable $n of type Int! was provided invalid value', 'a variable value that is no Int');
	is($d->{errors}[0]{extensions}{problems}[0]{explanation}, 'Could not coerce value "x" to Int', '... explained');
	($d) = gql($zeta, 'query P { products(first: 1, sortKey: FASTEST) { nodes { id } } }');
	is($d->{errors}[0]{extensions}{code}, 'argumentLiteralsIncompatible', 'an enum value the schema does not have');
	($d) = gql($zeta, 'mutation { bulkOperationRunQuery { userErrors { message } } }');
	is_deeply([ $d->{errors}[0]{message}, $d->{errors}[0]{extensions}{code} ],
		[ "Field 'bulkOperationRunQuery' is missing required arguments: query", 'missingRequiredArguments' ],
		'bulkOperationRunQuery without query: -> missingRequiredArguments');
	($d) = gql($zeta, '{ products(sortKey: UPDATED_AT) { nodes { id } } }');
	is($d->{errors}[0]{message}, 'you must provide one of first or last', 'a connection without first or last');
	is($avail->(), 1000, 'none of them charged');

	# a deprecated field (ShopPlan.displayName, deprecated for publicDisplayName) is still answered
	($d) = gql($zeta, '{ shop { plan { displayName publicDisplayName } } }');
	is_deeply($d->{data}, { shop => { plan => { displayName => 'Basic', publicDisplayName => 'Basic' } } },
		'deprecated plan { displayName } still answered, next to publicDisplayName');
	is($d->{extensions}{cost}{requestedQueryCost}, 2, '... cost 2: shop 1 + plan 1');
	is($avail->(), 998, '... charged');

	# aliases, only the selected fields, __typename, fragments, nested connections
	($d) = gql($zeta, 'query A { a: products(first: 2, sortKey: UPDATED_AT) { nodes { __typename pid: id ...T } } '
		. 'b: productsCount(limit: null) { n: count } c: productsCount(limit: 5) { count precision } shop { __typename } } '
		. 'fragment T on Product { title variants(first: 1) { edges { cursor node { id } } pageInfo { hasNextPage } } }');
	my $n0 = $d->{data}{a}{nodes}[0];
	is_deeply([sort keys %{ $d->{data} }], [qw(a b c shop)], 'aliased root fields');
	is_deeply([sort keys %$n0], [qw(__typename pid title variants)], 'a node has exactly the selected fields, under their aliases');
	is_deeply([ $n0->{__typename}, $d->{data}{shop}{__typename} ], [qw(Product Shop)], '__typename');
	ok($n0->{pid} =~ m{^gid://shopify/Product/\d+$} && $n0->{variants}{edges}[0]{node}{id} =~ m{ProductVariant/\d+$}
		&& length($n0->{variants}{edges}[0]{cursor}) > 10 && exists $n0->{variants}{pageInfo}{hasNextPage},
		'a fragment spread with a nested connection: edges { cursor node }, pageInfo');
	is_deeply([ $d->{data}{b}, $d->{data}{c} ], [ { n => 40 }, { count => 5, precision => 'AT_LEAST' } ],
		'counts: limit: null exact, limit: 5 capped with precision AT_LEAST');
	my $oid = "gid://shopify/Order/" . $s->orders_expected($Z)->{orders}[0]{order_id};
	($d) = gql($zeta, 'query N($id: ID!) { node(id: $id) { __typename id ... on Order { name } ... on Product { title } } }',
		{ id => $oid });
	is_deeply([sort keys %{ $d->{data}{node} }], [qw(__typename id name)], 'node(id:) of an order: only the Order fragment');
	is($d->{extensions}{cost}{requestedQueryCost}, 1, '... an interface costs its dearest selection (1)');

	# requested cost: the rule's figures
	my $before = $avail->();
	($d, $res) = gql($zeta, $Q_PRODUCTS, { first => 40, after => undef, query => undef, variantsFirst => 10 });
	my $c = $d->{extensions}{cost};
	my $actual = 2;
	$actual += 3 + 2 * scalar @{ $_->{variants}{nodes} } for @{ $d->{data}{products}{nodes} };
	is($c->{requestedQueryCost}, 922, 'products page of 40 x 10 variants: 2 + 40 x (1 + 2 + 10 x 2) = 922');
	is($c->{actualQueryCost}, $actual, "... actual: 2 + per product 3 + 2 x its variants returned = $actual");
	is($avail->(), $before - $actual, '... the bucket is charged the actual cost');
	($d) = gql($zeta, $Q_ORDERS, { first => 40, after => undef, query => undef, linesFirst => 10 });
	is_deeply([ $d->{errors}[0]{message}, @{ $d->{errors}[0]{extensions} }{qw(code cost)} ],
		[ 'Query cost is 2522, which exceeds the single query max cost limit (1000).', 'MAX_COST_EXCEEDED', 2522 ],
		"the shared docs' example: 40 orders x (1 + 5 money sets + lineItems 2 + 10 x 5) = 2522 -> MAX_COST_EXCEEDED");
	is($avail->(), $before - $actual, '... nothing charged');

	# valid on Shopify, not implemented by the stand-in: said so
	($d) = gql($zeta, '{ giftCards(first: 1) { nodes { id } } }');
	ok($d->{errors}[0]{extensions}{code} eq 'STANDIN_NOT_IMPLEMENTED' && $d->{errors}[0]{message} =~ /stand-in/,
		'a root field the stand-in lacks: ' . $d->{errors}[0]{message});
	($d) = gql($zeta, '{ products(first: 1, sortKey: UPDATED_AT) { nodes { id onlineStoreUrl } } }');
	like($d->{errors}[0]{message}, qr/field 'onlineStoreUrl' on type 'Product'/, '... and a field it lacks');
	is($avail->(), $before - $actual, '... refunded in full');
	$s->set_graphql($Z, { maximum => 100000, restore => 100000 });
}

# --- bulk exports from the inner query; concurrency by version --------------------------
{
	my $Z = $ZETA;
	my $exp = $s->orders_expected($Z);
	my %want_o = map { ("gid://shopify/Order/$_->{order_id}" => 1) } @{ $exp->{orders} };
	my %want_l = map { ("gid://shopify/LineItem/$_->{line_id}" => "gid://shopify/Order/$_->{order_id}") } @{ $exp->{lines} };
	my $OQ = '{ orders { edges { node { id name totalPriceSet { shopMoney { amount } } '
	  . 'lineItems { edges { node { id quantity variant { id } } } } } } } }';
	my $plain = HTTP::Tiny->new(timeout => 20);
	my $export = sub {        # (start answer, node, [decoded lines])
		my (%o) = @_;
		my $st = $o{mutation}
		  ? gql($zeta, $o{mutation}, { query => $o{query} // $OQ })->{data}{bulkOperationRunQuery}
		  : bulk_start(shop => $zeta, query => $o{query} // $OQ, version => $o{version});
		return ($st) unless $st->{bulkOperation};
		my ($n) = bulk_wait($st->{bulkOperation}{id}, 15, $zeta);
		my $dl = $plain->get($n->{url});
		return ($st, $n, [ map { $JSON->decode($_) } split /\n/, $dl->{content} ]);
	};
	# count the child lines that come before their parent's line
	my $early = sub {
		my (%seen, $n);
		for (@{ $_[0] }) {
			if ($_->{__parentId}) { $n++ unless $seen{ $_->{__parentId} } } else { $seen{ $_->{id} } = 1 }
		}
		return $n // 0;
	};

	$s->set_bulk($Z, { delay_s => 0.1 });
	my ($st, $n, $lines) = $export->();
	is($st->{bulkOperation}{status}, 'CREATED', 'bulk orders export started');
	my (%o, %l, $shape_ok);
	$shape_ok = 1;
	for my $x (@$lines) {
		if (exists $x->{__parentId}) {
			$l{ $x->{id} } = $x->{__parentId};
			$shape_ok = 0 unless join(',', sort keys %$x) eq '__parentId,id,quantity,variant';
		} else {
			$o{ $x->{id} }++;
			$shape_ok = 0 unless join(',', sort keys %$x) eq 'id,name,totalPriceSet'
			  && $x->{totalPriceSet}{shopMoney}{amount} =~ /^\d+(\.\d+)?$/;
		}
	}
	ok($shape_ok, 'order lines carry exactly id, name, totalPriceSet; line item lines id, quantity, variant, __parentId');
	is_deeply(\%o, { map { ($_ => 1) } keys %want_o }, 'every order once (' . scalar(keys %o) . ')');
	is_deeply(\%l, \%want_l, 'every line item once, __parentId its order (' . scalar(keys %l) . ')');
	is($early->($lines), 0, 'children_first 0: every line item after its order');
	my ($info) = grep { $_->{id} eq $st->{bulkOperation}{id} } @{ $s->bulk_info($Z)->{operations} };
	ok($n->{objectCount} == @$lines && $info->{rootObjectCount} == keys %o,
		'objectCount counts every line, rootObjectCount the orders');
	is_deeply([ @$info{qw(query api_version)}, $info->{groupObjects} ? 1 : 0 ], [ $OQ, $V, 0 ],
		'bulk_info records the inner query, the version and groupObjects');

	$s->set_bulk($Z, { children_first => 0.5, shuffle => JSON::PP::false });
	($st, $n, $lines) = $export->();
	my $e = $early->($lines);
	ok($e > 0, "children_first 0.5 (groupObjects false): $e line items come before their order");
	is(scalar(grep { $_->{__parentId} && !$want_o{ $_->{__parentId} } } @$lines), 0, '... every __parentId an order');
	($st, $n, $lines) = $export->(mutation => 'mutation G($query: String!) { bulkOperationRunQuery(query: $query, '
		. 'groupObjects: true) { bulkOperation { id status } userErrors { field message code } } }');
	is($early->($lines), 0, '... but not with groupObjects: true');
	$s->set_bulk($Z, { reset => JSON::PP::true });

	# the inner query is judged by Shopify's bulk rules
	($st) = $export->(query => '{ orders { edges { node { id nope } } } }');
	is_deeply($st, { bulkOperation => undef, userErrors => [{ field => ['query'], code => 'INVALID',
		message => "Invalid bulk query: Field 'nope' doesn't exist on type 'Order'" }] },
		'an invalid inner query: userError INVALID');
	($st) = $export->(query => '{ products { edges { node { id variants { edges { node { id '
		. 'sellingPlanGroups { edges { node { id } } } } } } } } } }');
	like($st->{userErrors}[0]{message}, qr/nesting depth greater than 2/, 'connections nested 3 deep: INVALID');

	# schema versions: bulkOperation(id:) exists from 2026-01 on; currentBulkOperation everywhere
	my $gid = $st->{bulkOperation} ? $st->{bulkOperation}{id} : $info->{id};
	my $Q_BOP = 'query B($id: ID!) { bulkOperation(id: $id) { id status } }';
	my $d = gql($zeta, $Q_BOP, { id => $gid }, version => '2025-10');
	is_deeply([ $d->{errors}[0]{message}, $d->{errors}[0]{extensions}{code} ],
		[ "Field 'bulkOperation' doesn't exist on type 'QueryRoot'", 'undefinedField' ], '2025-10: bulkOperation(id:) refused');
	$d = gql($zeta, $Q_BOP, { id => $gid }, version => '2026-01');
	is($d->{data}{bulkOperation}{id}, $gid, '2026-01: bulkOperation(id:) answered');
	is($d->{extensions}{cost}{actualQueryCost}, 1, '... a poll costs 1');
	$d = gql($zeta, $Q_BULK_CURRENT, undef, version => '2025-10');
	ok($d->{data}{currentBulkOperation}{id}, '2025-10: currentBulkOperation answered');
	$d = gql($zeta, $Q_BULK_START, { query => $OQ });
	is_deeply([ @{ $d->{extensions}{cost} }{qw(requestedQueryCost actualQueryCost)} ], [10, 10], 'a bulk start costs 10');
	bulk_wait($d->{data}{bulkOperationRunQuery}{bulkOperation}{id}, 15, $zeta);
}

# --- crafted answers (inject) ----------------------------------------------------
{
	my $BETA = 'beta.myshopify.com';
	my $EPSILON = 'epsilon.myshopify.com';
	my $url = "/admin/api/$V/products.json?limit=5&fields=id,title,variants";
	my $real = get($beta, $url);
	my $rp = body($real)->{products};
	my ($pid, $vid) = ($rp->[1]{id}, $rp->[1]{variants}[0]{id});
	my $rule = $s->inject($BETA, { path_prefix => "/admin/api/$V/products.json", skip => 1, times => 1,
		responses => [
			{ edits => [
				{ path => [ 'products', { id => $pid }, 'variants', { id => $vid }, 'price' ], value => { amount => 1 } },
				{ path => [ 'products', { id => $pid }, 'variants', { id => $vid } ], op => 'add_key', key => 'price',
					raw => '1e400' },
				{ path => 'products.0.title', string_b64 => ShopifyStandin::b64("a\xff\x00b") },
				{ path => 'products.1', op => 'insert', value => undef } ] },
			{ body_b64 => ShopifyStandin::b64("[\xff\x00]"), headers => { Link => undef, 'X-Extra' => 'yes' } },
			{ body_parts => [ [ '[', 3 ], [ ']', 3 ] ], truncate => -1, append => '}' } ] });
	is($rule->{remaining}, 3, 'inject: a rule of three answers');
	my @r = map { get($beta, $url) } 1 .. 5;
	is($r[0]{content}, $real->{content}, 'skip: the first matching answer is the real one');
	my $e = $r[1]{content};
	like($e, qr/"id":$vid,.*"price":\{"amount":1\}.*,"price":1e400\}/s,
		'edits: a field set to an object, a duplicate key with a raw number spliced in');
	ok(index($e, "\"title\":\"a\xff\x00b\"") >= 0, 'raw bytes (invalid UTF-8, NUL) inside a string');
	like($e, qr/^\{"products":\[\{[^\[]*?"variants":\[.*?\]\},null,\{/s, 'null inserted into the products array');
	is($r[1]{headers}{link}, $real->{headers}{link}, 'the real Link header is kept (same next page)');
	like($r[1]{headers}{'x-shopify-shop-api-call-limit'} // '', qr{^\d+/40$}, 'the call-limit header is still there');
	is($r[2]{content}, "[\xff\x00]", 'body_b64: the bytes as given');
	ok(!defined $r[2]{headers}{link} && ($r[2]{headers}{'x-extra'} // '') eq 'yes', 'headers removed and added');
	is($r[3]{content}, '[[[]]}', 'body_parts, truncate, append');
	is($r[4]{content}, $real->{content}, 'the rule used up: real answers again');
	my $inj = $s->injections($BETA);
	is_deeply([ $inj->[0]{served}, $inj->[0]{remaining} ], [ 3, 0 ], 'listing: served 3, none left');
	is($s->shop_stats($BETA)->{notes}{injected}, 3, 'stats count injected answers');

	# body_contains, an edit that does not fit, 401 and other shops untouched
	$s->inject($BETA, { path_prefix => "/admin/api/$V/products.json", body_contains => "$rp->[4]{id}",
		responses => [ { edits => [ { path => 'products.9.title', value => 'x' } ] },
			{ edits => [ { path => 'products.0.title', value => 'crafted' } ] } ] });
	my $other = get($beta, "/admin/api/$V/products.json?limit=2&fields=id,title");
	unlike($other->{content}, qr/crafted/, 'body_contains: an answer without the text is not touched');
	is(get($beta, $url, token => 'shpat_wrong')->{status}, 401, '401 still answered');
	my $nofit = get($beta, $url);
	is($nofit->{content}, $real->{content}, 'an edit that does not fit leaves the answer as it is');
	$inj = $s->injections($BETA);
	like($inj->[1]{errors}[0] // '', qr/products\.9/, '... and is listed with the rule');
	is($inj->[1]{served}, 0, '... without using it up');
	$s->clear_injections($BETA);
	is_deeply($s->injections($BETA), [], 'clear removes the rules');

	# GraphQL: operationName, cost still accounted
	$s->inject($EPSILON, { path_prefix => "/admin/api/$V/graphql.json", operation => 'ShopifySyncProducts',
		responses => [ { edits => [ { path => 'data.products.pageInfo.endCursor', value => undef },
			{ path => 'data.products.nodes.0.variants.nodes.0.inventoryQuantity', raw => '99999999999999999999' } ] } ] });
	my ($sd) = gql($eps, 'query ShopifySyncShop { shop { name } }');
	ok($sd->{data}{shop}{name}, 'another operation is not touched');
	my (undef, $gr) = gql($eps, $Q_PRODUCTS, { first => 2, after => undef, query => undef, variantsFirst => 1 });
	like($gr->{content}, qr/"endCursor":null.*"inventoryQuantity":99999999999999999999/s, 'GraphQL answer edited');
	like($gr->{content}, qr/"requestedQueryCost":\d+.*"currentlyAvailable"/s, '... its cost extensions kept');
	$s->clear_injections($EPSILON);

	# refused rules
	for my $bad ([ { bodies => ['x'] }, 'path_prefix' ], [ { path_prefix => '/x', bodies => ['@@'] }, 'base64' ],
		[ { path_prefix => '/x', responses => [ { edits => [ { op => 'nope' } ] } ] }, 'unknown edit op' ])
	{
		my $res = $http->request('POST', $s->base_url . "/_control/shops/$BETA/inject",
			{ content => $JSON->encode($bad->[0]) });
		ok($res->{status} == 400 && $res->{content} =~ /$bad->[1]/, "a bad rule is refused ($bad->[1])");
	}
}

# --- the oracle's own checks: node tests of the cost rules, the validation CLI ----------
{
	my $gdir = $ShopifyStandin::GRAPHQL_DIR
	  // File::Spec->catdir(dirname(abs_path($INC{'ShopifyStandin.pm'})), File::Spec->updir, 'graphql');
	my $out = `node --test "$gdir/cost.test.mjs" 2>&1`;
	my ($np, $nf) = ($out =~ /^# pass (\d+)/m, $out =~ /^# fail (\d+)/m);
	ok($? == 0 && $np && !$nf, 'node --test test/graphql/cost.test.mjs: the cost rules and request checks ('
		. ($np // 0) . ' passed)') or diag($out);
	my $docs = "$dir/documents.jsonl";
	open(my $fh, '>', $docs) or die "$docs: $!";
	print $fh $JSON->encode({ name => 'products', api_version => $V, query => $Q_PRODUCTS,
		variables => { first => 40, variantsFirst => 10 } }), "\n";
	print $fh $JSON->encode({ name => 'shop', api_version => $V, query => $Q_SHOP }), "\n";
	print $fh $JSON->encode({ name => 'bulk', api_version => '2025-10', query => $BULK_QUERY, bulk => JSON::PP::true }), "\n";
	close $fh;
	my @r = map { $JSON->decode($_) } split /\n/, `node "$gdir/validate_documents.mjs" < "$docs"`;
	is_deeply([ map { [ $_->{name}, $_->{valid} ? 1 : 0, $_->{cost} ] } @r ],
		[ [ 'products', 1, 922 ], [ 'shop', 0, 2 ], [ 'bulk', 1, $r[2]{cost} ] ],
		'validate_documents.mjs: products page valid (922), the shop query invalid (deprecated field), the bulk query valid');
	like($r[1]{errors}[0]{message} // '', qr/ShopPlan\.displayName' is deprecated/, '... the deprecation reported as an error');
}

my $pid = $s->pid;
$s->stop;
ok(!kill(0, $pid), 'stand-in stopped');
note(sprintf('whole test took %.1f s', time() - $T0));
done_testing();
