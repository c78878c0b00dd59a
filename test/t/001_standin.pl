# Tests of the Shopify Admin API stand-in itself (no PostgreSQL needed).
#   prove -I test/perl test/t/001_standin.pl
use strict;
use warnings;

use Test::More;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(strftime);
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

my $s = ShopifyStandin->start(config => { shops => [$alpha, $beta, $gamma] },
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

my $pid = $s->pid;
$s->stop;
ok(!kill(0, $pid), 'stand-in stopped');
my $elapsed = time() - $T0;
ok($elapsed < 60, sprintf('whole test took %.1f s', $elapsed));
done_testing();
