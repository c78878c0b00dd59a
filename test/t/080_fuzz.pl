# Hostile input: random calls against every function of the extension.
#
# Part 1, a generator: the functions are discovered from the catalog (every
# pg_proc row that depends on the extension), so new ones are covered without
# touching this file.  Each call draws its arguments per type from pools of
# hostile values (NULL, 0, -1, int8 extremes, NaN, empty and 1 MB strings,
# quotes, backslashes, format directives, newlines, emoji, RTL marks,
# domain- and token-shaped strings, JSON of wrong shapes and deep nesting,
# odd intervals and timestamps, existing and missing shop/job ids, calls of
# other extension functions), in positional, named or mixed notation,
# sometimes with a wrong number of arguments, in several call forms.  The
# calls run as a superuser and as an unprivileged role, each inside a
# PL/pgSQL EXCEPTION block, so one error does not stop the rest.  The run is
# deterministic (FUZZ_SEED, printed) and its size is FUZZ_CALLS calls per
# role.  Then two sessions churn: enqueue, cancel, disconnect and reconnect
# as fast as they can while the worker claims and stops the jobs (the random
# calls are too slow to hit the worker's races often).
#
# Asserted: no backend or background process crashed (no "terminated by
# signal", PANIC, TRAP or abnormal exit in the log; postmaster and worker pids
# unchanged), no SQLSTATE XX000/XX001/XX002, no internal-looking messages,
# no leak warnings, the role is never left elevated after a caught error,
# no access token or webhook secret in the server log, every text the
# extension stored is valid UTF-8, and the "never an error" helpers
# (shopify._to_*) never raise for any string.
#
# Part 2: sqlsmith (Debian package) runs FUZZ_SQLSMITH_QUERIES random
# queries as an unprivileged role with a statement_timeout; the server must
# not crash (a crash of core PostgreSQL unrelated to shopify_sync is reported
# and excluded).
#
# Nothing leaves the machine: shopify_sync.api_base_url points at a closed
# port of 127.0.0.1.
#
# This file holds UTF-8 bytes and is read as bytes (no "use utf8"): every
# string is a byte string, as sent to the server.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ShopifySyncNode;
use Digest::SHA qw(hmac_sha256_base64);
use IPC::Run;
use List::Util qw(min shuffle);
use Time::HiRes qw(time);

my $SEED = $ENV{FUZZ_SEED} // 20261124;
my $CALLS = $ENV{FUZZ_CALLS} // 5000;
my $SMITH_QUERIES = $ENV{FUZZ_SQLSMITH_QUERIES} // 2000;
my $CHUNK = 500;
my $CALL_TIMEOUT = '250ms';

srand($SEED);
note("fuzz seed $SEED (set FUZZ_SEED to change), $CALLS calls per role (FUZZ_CALLS)");
my $t_start = time;

# ---------------------------------------------------------------- the node

my $hexrand = sub { join '', map { sprintf '%02x', int(rand(256)) } 1 .. $_[0] };
my $WEBHOOK_SECRET = 'fuzzsecret' . $hexrand->(12);
my %SECRETS;    # every access token handed to the server, and the webhook secret
$SECRETS{$WEBHOOK_SECRET} = 'webhook secret';

# log_statement = none: the calls' text is not logged (tokens without the
# shpat_ shape could not be scrubbed from it), so the log shows what the
# extension itself writes.  restart_after_crash: a crash is recorded, and the
# run goes on to find more.
my $node = new_sync_node('fuzz', base_url => 'http://127.0.0.1:9', conf => <<"EOF");
log_statement = none
restart_after_crash = on
shopify_sync.webhook_secret = '$WEBHOOK_SECRET'
shopify_sync.http_timeout = 2s
shopify_sync.max_retries = 1
EOF
my $postmaster_pid = slurp_file($node->data_dir . '/postmaster.pid') =~ /^(\d+)/ ? $1 : 0;
ok($postmaster_pid > 0, 'postmaster pid known');
my $worker_before = worker_pid($node);
ok($worker_before > 0, 'worker running before the fuzzing');
# (the worker refuses other encodings; the UTF-8 check below relies on it)
is($node->safe_psql('app', 'SHOW server_encoding'), 'UTF8', 'the database is UTF8');

sub lit
{
	my ($s) = @_;
	$s =~ s/'/''/g;
	return "'$s'";
}

$node->safe_psql('app', q{
CREATE ROLE fuzz_user LOGIN;
CREATE ROLE fuzz_other LOGIN;
CREATE ROLE fuzz_smith LOGIN;
ALTER ROLE fuzz_smith SET statement_timeout = '300ms';
ALTER ROLE fuzz_smith SET lock_timeout = '100ms';
ALTER ROLE fuzz_smith SET idle_in_transaction_session_timeout = '5s';

-- One call, its error caught: returns "SQLSTATE|milliseconds|message"
-- (00000 for success).  A role that is still elevated after the call (a
-- privilege leak through a caught error) is reported as PRIVLEAK.
CREATE FUNCTION public.fuzz_exec(q text) RETURNS text
LANGUAGE plpgsql AS $f$
DECLARE
  who name := current_user;
  t0 timestamptz := clock_timestamp();
  st text := '00000';
  msg text := '';
BEGIN
  BEGIN
    EXECUTE q;
  EXCEPTION
    WHEN query_canceled THEN
      st := '57014';
      msg := 'canceled';
    WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
  END;
  IF current_user <> who THEN
    msg := 'role ' || current_user || ' after ' || st || ' ' || msg;
    st := 'PRIVLEAK';
  END IF;
  RETURN st || '|' || round(extract(epoch FROM clock_timestamp() - t0) * 1000, 1) || '|'
         || left(regexp_replace(msg, '[\r\n\t]+', ' ', 'g'), 300);
END
$f$;

-- Is a text valid in the database encoding?
CREATE FUNCTION public.fuzz_valid_text(t text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $f$
BEGIN
  PERFORM convert_from(convert_to(t, 'UTF8'), 'UTF8');
  RETURN true;
EXCEPTION WHEN OTHERS THEN
  RETURN false;
END
$f$;
});

# ---------------------------------------------------------------- discovery

my @FUNCS;
{
	my $rows = $node->safe_psql('app', q{
SELECT quote_ident(n.nspname) || '.' || quote_ident(p.proname),
       p.proname,
       p.pronargdefaults,
       coalesce((SELECT string_agg(format_type(t, NULL), ',' ORDER BY o)
                   FROM unnest(p.proargtypes) WITH ORDINALITY a(t, o)), ''),
       coalesce((SELECT string_agg(coalesce(nm, ''), ',' ORDER BY o)
                   FROM unnest(p.proargnames) WITH ORDINALITY a(nm, o)
                  WHERE p.proargmodes IS NULL OR p.proargmodes[o] IN ('i', 'b', 'v')), ''),
       p.proretset,
       format_type(p.prorettype, NULL)
  FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass AND e.oid = d.refobjid
 WHERE e.extname = 'shopify_sync' AND p.prokind = 'f'
 ORDER BY 1});
	for my $line (split /\n/, $rows)
	{
		my ($qname, $name, $ndef, $types, $names, $retset, $rettype) = split /\|/, $line, -1;
		my @types = length $types ? split(/,/, $types) : ();
		my @names = length $names ? split(/,/, $names, -1) : ();
		@names = () if @names != @types;
		push @FUNCS, {
			qname => $qname, name => $name, ndef => $ndef, types => \@types,
			names => \@names, retset => $retset eq 't', rettype => $rettype };
	}
}
my %by_name = map { $_->{name} => $_ } @FUNCS;
note('functions: ' . join(', ', map { "$_->{qname}(" . join(', ', @{ $_->{types} }) . ')' } @FUNCS));
ok(@FUNCS > 0, 'the extension\'s functions are discovered');
my @known = qw(shopify_connect_store shopify_stores shopify_store shopify_store_stats
  shopify_sync_products shopify_sync_orders shopify_sync_jobs shopify_cancel_sync
  shopify_wait_for_sync shopify_disconnect shopify_set_store_api shopify_receive_webhook
  shopify_verify_webhook shopify_cleanup _variants _orders _to_numeric _to_timestamptz _to_id);
my @missing = grep { !$by_name{$_} } @known;
is("@missing", '', 'every known function is among them');

# ---------------------------------------------------------------- value pools

sub pick { return $_[ int(rand(scalar @_)) ]; }

# Text values are pairs [SQL expression, the bytes it evaluates to] (the
# bytes are needed to sign webhook bodies).
sub T { my ($s) = @_; return [ lit($s), $s ]; }
sub R { my ($s, $n) = @_; return [ "repeat(" . lit($s) . ", $n)", $s x $n ]; }

my $MB = 1024 * 1024;
my @HOSTILE_TEXT = (
	T(''), T(' '), T("'"), T("''"), T('"'), T('\\'), T('\\\\'), T('\\x00'), T('\\u0000'),
	T('%s%s%s%n%n%n'), T('%'), T('%%'), T('%1$s'), T("a\nb"), T("\r\n"), T("\t"), T("line1\n\nline3"),
	T('é'), T('€'), T('🙂'), T('👨‍👩‍👧‍👦'), T("\xe2\x80\xaeRTL\xe2\x80\xac"), T("\xe2\x80\x8b"),
	T('Z̷͉a̸l̷g̶o̵'), T('ｆｕｌｌｗｉｄｔｈ'), T('ѕhop'), T('NULL'), T('null'), T('true'),
	T('0'), T('-1'), T('9223372036854775808'), T('NaN'), T('Infinity'), T('-Infinity'),
	T('1e309'), T('$1'), T('$$'), T(';'), T('--'), T('/*'), T("'); DROP TABLE shopify.stores; --"),
	T('<script>alert(1)</script>'), T('../../etc/passwd'), T('{}'), T('[]'), T('{"a":'),
	T('products/update'), T('shop.myshopify.com'), T('shpat_' . ('a' x 32)), T('shpat_'),
	R('x', $MB), R('€', 350_000), R("'", 10_000), R('\\', 10_000), R('%n', 50_000), R('🙂', 200_000),
	R('a', 255), R('a', 256), R('a', 64), R('a', 65), R('é', 128), R('é', 200),
);

my @DOMAINS_HOSTILE = (
	T('shop.myshopify.com'), T('SHOP.MYSHOPIFY.COM'), T('https://shop.myshopify.com/'),
	T('http://shop.myshopify.com'), T('shop.myshopify.com/'), T('shop.myshopify.com//'),
	T('a..myshopify.com'), T('-a.myshopify.com'), T('a-.myshopify.com'), T('.myshopify.com'),
	T('myshopify.com'), T('x' x 63 . '.myshopify.com'), T('x' x 64 . '.myshopify.com'),
	T('evil.com'), T('shop.myshopify.com.evil.com'), T('shop.myshopify.com:443'),
	T('user@shop.myshopify.com'), T('127.0.0.1'), T('localhost'), T('[::1]'),
	T('shop.myshopify.com%00'), T('shop%2emyshopify.com'), T('ftp://shop.myshopify.com'),
	T('ѕhop.myshopify.com'), T('shop.myshopify.com.'), T("shop.myshopify.com\n"),
	T(' shop.myshopify.com'), T('sh_op.myshopify.com'), T('shop.myshopify.com?x=1'),
	T('shop.myshopify.com#frag'), T('shop.myshopify.com\\x'), T('HTTPS://Shop.MyShopify.com'),
	T('https://https://shop.myshopify.com'), T('😀.myshopify.com'), R('é', 200),
	[ "repeat('a', 300) || '.myshopify.com'", ('a' x 300) . '.myshopify.com' ],
);

my @TOPICS = qw(products/create products/update products/delete orders/create orders/updated
  orders/cancelled app/uninstalled shop/redact customers/redact customers/data_request
  bulk_operations/finish inventory_levels/update a/b);
my @TOPICS_HOSTILE = (T('/'), T('products/'), T('/update'), T('Products/Update'),
	T('products/update/x'), T('products update'), T('a' x 65), T('products/update;'), T('app/uninstalled '));

my @SHAPES = qw(rest_products rest_product graphql_products graphql_product bulk_jsonl
  rest_orders rest_order graphql_orders graphql_order);
my @SHAPES_HOSTILE = (T('REST_PRODUCTS'), T('rest_products '), T('graphql%'), T('nonsense'));

my @NUMERIC_STRINGS = ('1.5', '-0', '+.5', '.', '-', '+', '1e5', '1E-5', 'NaN', 'nan', 'Infinity',
	'-Infinity', '  1', '1 ', '0x1F', '1_000', '1,5', '00000000000000000000000000000000000000001',
	'1' x 40, '1' x 41, '9' x 39 . '.9', '-' . ('9' x 39), '0.' . ('0' x 38) . '1', '10.00', '١٢٣');
my @TIMESTAMP_STRINGS = ('2024-01-01T00:00:00Z', '2024-01-01T00:00:00-05:00', '2024-13-45T99:99:99Z',
	'0000-01-01T00:00:00Z', '9999-12-31T23:59:59+14:00', '2024-01-01 00:00:00 Mars/Olympus',
	'2024-01-01T00:00:00 America/New_York', '2024-01-01 00:00:00 Foo/Bar/Baz', '2024-01-01 00:00:00 foo',
	'2024-01-01 J2451187', '2024-01-01 allballs', '2024-01-01 00:00:00 +99:99', '2024-01-01 today',
	'2024-01-01 epoch', '2024-01-01 00:00:00 infinity', '294277-01-01T00:00:00Z', '2024-01-01 posix/Mars',
	'2024-02-30', '2024-01-01T00:00:00.1234567890123Z', '1970-01-01 00:00:00 BC', '4714-11-24 BC',
	'2024-01-01 EST5EDT', '2024-01-01 00:00 PST8PDT', '2024-01-01 z', '2024-01-01T24:00:00Z',
	'2024-01-01 America/', '2024-01-01 a/b/c/d/e/f/g/h', '2024-01-01 ' . ('x/' x 40),
	'2024-01-01T00:00:00+05:30:45', '2024-01-01 Etc/GMT+14', '2024-01-01 UTC+foo', 'infinity', 'epoch');

# ---- JSON of every shape, mostly wrong

my @JKEYS = qw(id title vendor product_type productType handle status tags updated_at updatedAt
  variants product products data nodes edges node inventoryItem inventory_item_id
  inventory_quantity inventoryQuantity price compare_at_price compareAtPrice sku barcode position
  product_id __parentId pageInfo hasNextPage endCursor orders order line_items lineItems variant_id
  variant quantity refunds transactions kind amount created_at processed_at cancelled_at createdAt
  processedAt cancelledAt totalPriceSet shopMoney currencyCode currency financial_status
  displayFinancialStatus displayFulfillmentStatus fulfillment_status name total_price subtotal_price
  total_tax total_discounts totalRefundedSet originalUnitPriceSet errors extensions cost
  userErrors bulkOperation url objectCount admin_graphql_api_id variant_gids);
my @JROOT = qw(products product data id variants tags title order orders __parentId updated_at);
my %JARRAY = map { $_ => 1 } qw(products variants nodes edges tags orders line_items refunds
  transactions errors userErrors variant_gids);
my %JOBJECT = map { $_ => 1 } qw(product data node inventoryItem order lineItems pageInfo
  totalPriceSet shopMoney variant extensions cost bulkOperation originalUnitPriceSet
  totalRefundedSet products variants orders);
my @JSCALARS = ('1', '0', '-1', '42', '9223372036854775807', '9223372036854775808',
	'-9223372036854775808', '18446744073709551616', '1e309', '1.5', '-0', '1E2', '0.000001',
	'123456789012345678901234567890.123456789', '"1"', '"42"', '"-5"', '"+7"', '" 5"',
	'"gid://shopify/Product/1"', '"gid://shopify/ProductVariant/9223372036854775807"',
	'"gid://shopify/Product/"', '"gid://shopify/x/-5"', '"gid://shopify/"', '"gid://shopify/Product/1/2"',
	'""', '"x"', '"10.00"', '"1,000.00"', '"NaN"', '"Infinity"', '"-0.00"', '"1.0e5"',
	'"\u00e9\u20ac"', '"\ud83d\ude00"', '"\\\\"', '"\""', '"%s%n%x"', 'true', 'false', 'null',
	'"ACTIVE"', '"archived"', '"DRAFT"', '"refund"', '"success"', '"UNFULFILLED"',
	'"PARTIALLY_FULFILLED"', '"😀"', "\"\xe2\x80\xaeevil\"", '"é"',
	(map { "\"$_\"" } @TIMESTAMP_STRINGS[0 .. 12]), (map { "\"$_\"" } @NUMERIC_STRINGS[0 .. 9]));

sub jscalar
{
	my $r = rand;
	return '"' . ('x' x 70_000) . '"' if $r < 0.003;    # over the 64 kB field limit
	return '"\u0000"' if $r < 0.006;                     # text cannot hold it
	return '"\ud800"' if $r < 0.009;                     # lone surrogate
	return pick(@JSCALARS);
}

sub jvalue
{
	my ($d, $key) = @_;
	if ($d > 0 && defined $key)
	{
		return jarray($d - 1) if $JARRAY{$key} && rand() < 0.7;
		return jobject($d - 1) if $JOBJECT{$key} && rand() < 0.7;
	}
	my $r = rand;
	return jscalar() if $d <= 0 || $r < 0.45;
	return $r < 0.75 ? jobject($d - 1) : jarray($d - 1);
}

sub jobject
{
	my ($d, $root) = @_;
	my @kv;
	for (1 .. int(rand(6)))
	{
		my $k = ($root && rand() < 0.6) ? pick(@JROOT) : pick(@JKEYS);
		$k = pick('', 'ID', 'é', '\u0000', 'id ', "a\nb") if rand() < 0.02;
		push @kv, "\"$k\": " . jvalue($d, $k);
	}
	return '{' . join(', ', @kv) . '}';
}

sub jarray
{
	my ($d) = @_;
	my @e = map { rand() < 0.6 ? jobject($d) : jvalue($d) } 1 .. int(rand(5));
	return '[' . join(', ', @e) . ']';
}

# A document: a random object with the payloads' vocabulary, a bulk JSONL
# text, a broken or deeply nested text, or a bare scalar/array.
# The first n bytes of s, less a character cut in two (SQL text must be
# valid UTF-8: the server would refuse the whole statement).
sub cut
{
	my ($s, $n) = @_;
	$s = substr($s, 0, $n);
	while (length $s)
	{
		my $c = $s;
		last if utf8::decode($c);
		chop $s;
	}
	return $s;
}

# Documents close to what the shapes expect (REST/GraphQL products and
# orders, bulk JSONL), with random values and stray keys around them: these
# reach deep into the parsers, where a purely random object rarely goes.
sub jfield
{
	my ($k, $d) = @_;
	return "\"$k\": " . (rand() < 0.75 ? jscalar() : jvalue($d // 1, $k));
}

# Stray keys around a document: mostly the keys the parsers dispatch on, with
# containers where they expect containers (and elsewhere).
sub jextra
{
	my ($d) = @_;
	return map {
		my $k = rand() < 0.8 ? pick(@JROOT) : pick(@JKEYS);
		"\"$k\": " . jvalue($d, $k)
	} 1 .. (rand() < 0.4 ? 0 : 1 + int(rand(3)));
}

sub jvariant
{
	my ($gql) = @_;
	my @f = map { jfield($_) } grep { rand() < 0.6 } ($gql
		? qw(id sku title price compareAtPrice inventoryQuantity barcode position updatedAt)
		: qw(id product_id sku title price compare_at_price inventory_quantity inventory_item_id barcode position updated_at));
	push @f, '"inventoryItem": {' . jfield('id') . '}' if $gql && rand() < 0.5;
	return rand() < 0.05 ? jscalar() : '{' . join(', ', shuffle(@f, jextra(1))) . '}';
}

sub jproduct
{
	my ($gql) = @_;
	my @f = map { jfield($_) } grep { rand() < 0.6 }
	  qw(id title vendor handle status updated_at updatedAt product_type productType);
	push @f, rand() < 0.5 ? '"tags": ' . jarray(0) : jfield('tags');
	my @v = map { jvariant($gql) } 1 .. int(rand(4));
	my $vs = '[' . join(', ', @v) . ']';
	if ($gql)
	{
		$vs = rand() < 0.5 ? "{\"nodes\": $vs}"
		  : '{"edges": [' . join(', ', map { "{\"node\": $_}" } @v) . ']}';
	}
	push @f, "\"variants\": $vs" if rand() < 0.85;
	return rand() < 0.05 ? jscalar() : '{' . join(', ', shuffle(@f, jextra(1))) . '}';
}

sub jorder
{
	my ($gql) = @_;
	my @f = map { jfield($_) } grep { rand() < 0.6 } ($gql
		? qw(id name createdAt processedAt updatedAt cancelledAt displayFinancialStatus displayFulfillmentStatus currencyCode)
		: qw(id name created_at processed_at updated_at cancelled_at financial_status fulfillment_status currency total_price subtotal_price total_tax total_discounts));
	my @l = map { '{' . join(', ', map { jfield($_) } grep { rand() < 0.7 } qw(id variant_id product_id quantity price)) . '}' } 1 .. int(rand(3));
	push @f, $gql ? '"lineItems": {"nodes": [' . join(', ', @l) . '], "pageInfo": {' . jfield('hasNextPage') . '}}'
	  : '"line_items": [' . join(', ', @l) . ']';
	push @f, '"refunds": [{"transactions": [{' . join(', ', map { jfield($_) } qw(kind status amount)) . '}]}]'
	  if !$gql && rand() < 0.5;
	push @f, '"totalPriceSet": {"shopMoney": {' . jfield('amount') . '}}' if $gql && rand() < 0.5;
	return '{' . join(', ', shuffle(@f, jextra(1))) . '}';
}

sub jshaped
{
	my ($shape) = @_;
	my $list = sub { '[' . join(', ', map { $_[0]->() } 1 .. int(rand(4))) . ']' };
	my @x = jextra(2);
	my $wrap = sub { '{' . join(', ', shuffle(@_, @x)) . '}' };
	if ($shape eq 'rest_products') { return $wrap->('"products": ' . $list->(sub { jproduct(0) })); }
	if ($shape eq 'rest_product')
	{
		return rand() < 0.5 ? $wrap->('"product": ' . jproduct(0)) : jproduct(0);
	}
	if ($shape eq 'graphql_products')
	{
		my $ps = $list->(sub { jproduct(1) });
		my $conn = rand() < 0.5 ? "{\"nodes\": $ps}"
		  : '{"edges": [' . join(', ', map { "{\"node\": " . jproduct(1) . '}' } 1 .. int(rand(3))) . ']}';
		return $wrap->("\"data\": {\"products\": $conn}");
	}
	if ($shape eq 'graphql_product') { return $wrap->('"data": {"product": ' . jproduct(1) . '}'); }
	if ($shape eq 'bulk_jsonl')
	{
		my @lines;
		for (1 .. 1 + int(rand(5)))
		{
			push @lines, rand() < 0.4 ? jproduct(1)
			  : '{' . join(', ', jfield('id'), '"__parentId": ' . pick('"gid://shopify/Product/1"', jscalar()),
				map { jfield($_) } grep { rand() < 0.5 } qw(sku price inventoryQuantity title updatedAt)) . '}';
		}
		return join(pick("\n", "\r\n", "\n\n"), @lines);
	}
	if ($shape eq 'rest_orders') { return $wrap->('"orders": ' . $list->(sub { jorder(0) })); }
	if ($shape eq 'rest_order') { return rand() < 0.5 ? $wrap->('"order": ' . jorder(0)) : jorder(0); }
	if ($shape eq 'graphql_orders') { return $wrap->('"data": {"orders": {"nodes": ' . $list->(sub { jorder(1) }) . '}}'); }
	return $wrap->('"data": {"order": ' . jorder(1) . '}');
}

sub jdoc
{
	my ($shape) = @_;
	my $r = rand;
	return T(jshaped($shape // pick(@SHAPES))) if $r < 0.6;
	$r = rand;
	return T(jobject(5, 1)) if $r < 0.55;
	return T(join(pick("\n", "\r\n", "\n\n"), map { jobject(3, 1) } 1 .. 1 + int(rand(4)))) if $r < 0.7;
	return T(jarray(3)) if $r < 0.75;
	return T(jscalar()) if $r < 0.8;
	return T(cut(jobject(4, 1), int(rand(40)))) if $r < 0.85;    # truncated
	my $n = pick(100, 1000, 10_000, 100_000);
	# built only when picked: these are large
	my @big = (
		sub { [ "repeat('[', $n) || repeat(']', $n)", ('[' x $n) . (']' x $n) ] },
		sub { [ "repeat('{\"products\": [', $n) || repeat(']}', $n)", ('{"products": [' x $n) . (']}' x $n) ] },
		sub { [ "repeat('{\"product\": ', $n) || '1' || repeat('}', $n)", ('{"product": ' x $n) . '1' . ('}' x $n) ] },
		sub { [ "repeat('[', $n)", '[' x $n ] },
		sub {
			[ "'{\"products\": [' || repeat('{\"id\": 1, \"variants\": [{\"id\": 2}]},', $n / 10) || '{}]}'",
			  '{"products": [' . ('{"id": 1, "variants": [{"id": 2}]},' x ($n / 10)) . '{}]}' ]
		},
		sub { R("{\"id\": 1}\n", $n) });
	return pick(@big)->();
}

# Diagnostics show calls without the tokens in them.
sub masked
{
	my ($s, $len) = @_;
	$s = cut($s, $len // 1000);
	$s =~ s/\b(shp[a-z]{2}_|plain)[0-9a-f]{8,}/$1.../g;
	return $s;
}

sub wait_for_server
{
	return wait_until(sub {
		my ($ret, $out) = $node->psql('app', 'SELECT 1');
		$ret == 0 && $out eq '1';
	}, 60);
}

# ---- ids and domains known to the server

my (@SHOP_IDS, @JOB_IDS, @EVENT_IDS, @DOMAINS);
my $domain_seq = 0;

sub refresh_ids
{
	my $q = q{
SELECT coalesce(string_agg(shop_id::text, ' ' ORDER BY shop_id), '') FROM shopify.stores
UNION ALL SELECT coalesce(string_agg(id::text, ' ' ORDER BY id), '') FROM shopify.sync_jobs
UNION ALL SELECT coalesce(string_agg(id::text, ' ' ORDER BY id), '') FROM shopify.webhook_events
UNION ALL SELECT coalesce(string_agg(shop_domain, ' ' ORDER BY shop_id), '') FROM shopify.stores};
	my ($ret, $out) = $node->psql('app', $q);
	if ($ret != 0)
	{
		# the server may be recovering from a crash (of the worker, say)
		wait_for_server() or BAIL_OUT('the server did not come back');
		$out = $node->safe_psql('app', $q);
	}
	my @l = split /\n/, $out, -1;
	@SHOP_IDS = split / /, $l[0] // '';
	@JOB_IDS = split / /, $l[1] // '';
	@EVENT_IDS = split / /, $l[2] // '';
	@DOMAINS = split / /, $l[3] // '';
}

sub new_token
{
	my $t = rand() < 0.85 ? 'shpat_' . $hexrand->(16) : 'plain' . $hexrand->(16);
	$SECRETS{$t} = 'access token';
	return $t;
}

sub gen_bigint
{
	my ($kind) = @_;
	my $r = rand;
	my @ids = $kind eq 'job' ? @JOB_IDS : @SHOP_IDS;
	return pick(@ids) if @ids && $r < 0.45;
	return pick(@EVENT_IDS) if @EVENT_IDS && $r < 0.48;
	return pick('NULL', 'NULL::bigint', '0', '-1', '1', '2', '9223372036854775807',
		'(-9223372036854775807 - 1)', '2147483648', '-2147483649', int(rand(1_000_000)),
		(@ids ? $ids[-1] + 1 : 1), '(SELECT max(shop_id) FROM shopify.stores)',
		'(SELECT min(id) FROM shopify.sync_jobs)', '(SELECT max(id) FROM shopify.webhook_events)',
		'\'42\'', '\'-0\'::bigint', '\'NaN\'', '1e30::numeric::bigint', '(SELECT 1 WHERE false)')
	  if $r < 0.9;
	# a call of another function of the extension as the argument
	my $shop = @SHOP_IDS ? pick(@SHOP_IDS) : 1;
	return pick("(shopify_sync_products($shop)).id", "(shopify_sync_orders($shop, false)).id",
		"shopify_connect_store('fz-nested-" . int(rand(50)) . ".myshopify.com', " . lit(new_token()) . ')',
		"(SELECT (j).id FROM shopify_sync_jobs($shop, 1) j)", "(shopify_cancel_sync($shop)).id",
		"(shopify_disconnect($shop)->>'store_deactivated')::boolean::int");
}

sub gen_int
{
	return pick('NULL', 'NULL::integer', '0', '-1', '1', '2', '10', '10000', '10001', '2147483647',
		'(-2147483647 - 1)', '100000000', '\'5\'', '2147483648', '1.5');
}

sub gen_bool { return pick('NULL', 'NULL::boolean', 'true', 'false', '\'t\'', '\'off\'', '(1 = 1)'); }

sub gen_interval
{
	return pick('NULL', 'NULL::interval', '\'0\'', '\'-1 day\'', '\'1000 years\'', '\'1 microsecond\'',
		'\'00:00:00.05\'', '\'-00:00:01\'', '\'1 day -1 hour\'', '\'-1 day 25 hours\'', '\'10 minutes\'',
		'\'1 mon\'', '\'0.1 seconds\'', '\'178000000 years\'', '\'-178000000 years\'',
		'\'2147483647 days\'', '\'-2147483648 days\'', '\'2147483647 days 2562047788 hours\'',
		'\'2562047788 hours\'', '\'-2562047788 hours\'', '\'infinity\'', '\'P1D\'', '\'PT0.2S\'',
		'\'1 day\'::interval * 1e6', '(\'1 second\'::interval / 3)', '\'10 minutes\'::interval');
}

sub gen_timestamptz
{
	return pick('NULL', 'NULL::timestamptz', '\'infinity\'', '\'-infinity\'', '\'4714-11-24 00:00:00+00 BC\'',
		'\'294276-12-31 23:59:59+00\'', '\'epoch\'', 'now()', '\'2024-02-29 12:00:00+14\'',
		'\'1999-12-31 23:59:60\'', 'clock_timestamp() + \'1000 years\'');
}

sub gen_text
{
	my ($f, $name, $ctx) = @_;
	$name //= '';
	my $r = rand;
	if ($name =~ /domain/)
	{
		if ($f->{name} eq 'shopify_connect_store' && $r < 0.35)
		{
			my $d = 'fz-' . $domain_seq++ . '.myshopify.com';
			push @DOMAINS, $d;
			return T($d);
		}
		return T(pick(@DOMAINS)) if @DOMAINS && $r < 0.65;
		return $r < 0.95 ? pick(@DOMAINS_HOSTILE) : pick(@HOSTILE_TEXT);
	}
	if ($name =~ /token/)
	{
		return T(new_token()) if $r < 0.5;
		return pick(T('shpat_'), T('shpat_ ' . $hexrand->(16)), T('shpat_' . $hexrand->(200)),
			T('shpat_' . $hexrand->(16) . "\n"), T('shpat_' . $hexrand->(16) . '🙂'), T(''),
			T('shpca_' . $hexrand->(16)), R('a', 256), R('x', $MB))
		  if $r < 0.8;
		return pick(@HOSTILE_TEXT);
	}
	if ($name eq 'topic')
	{
		return T($ctx->{topic}) if $ctx->{topic} && $r < 0.6;
		return T(pick(@TOPICS)) if $r < 0.8;
		return $r < 0.95 ? pick(@TOPICS_HOSTILE) : pick(@HOSTILE_TEXT);
	}
	if ($name eq 'body' || $name eq 'doc')
	{
		return $ctx->{body} = ($r < 0.9 ? jdoc($ctx->{shape}) : pick(@HOSTILE_TEXT));
	}
	if ($name =~ /hmac|sig/)
	{
		if ($ctx->{body} && $r < 0.6)
		{
			my $b64 = hmac_sha256_base64($ctx->{body}[1], $WEBHOOK_SECRET);
			$b64 .= '=' while length($b64) % 4;
			return T($b64);
		}
		return pick(T(''), T('=='), T('A' x 44), T('A' x 65), T('!!!!'), T('AAAA====AAAA'),
			T('A' x 43 . '='), T('Zm9v'), T('////'), T('_-_-'), pick(@HOSTILE_TEXT));
	}
	if ($name eq 'shape')
	{
		return T($ctx->{shape}) if $ctx->{shape} && $r < 0.7;
		return T(pick(@SHAPES)) if $r < 0.85;
		return $r < 0.95 ? pick(@SHAPES_HOSTILE) : pick(@HOSTILE_TEXT);
	}
	if ($name eq 'api')
	{
		return pick(T('rest'), T('graphql'), T('bulk'), T('REST'), T('GraphQL'), T(''), T('rest '),
			[ 'NULL', undef ], pick(@HOSTILE_TEXT));
	}
	if ($name eq 'webhook_id')
	{
		return [ 'NULL', undef ] if $r < 0.3;
		return T('fz-wh-' . int(rand(1e9))) if $r < 0.6;
		return T('fz-dup-' . int(rand(10))) if $r < 0.8;
		return pick(T(''), R('w', 255), R('w', 256), R('€', 50), R('é', 100), T("id\n2"), pick(@HOSTILE_TEXT));
	}
	if ($f->{name} eq '_to_numeric' || $f->{name} eq '_to_timestamptz')
	{
		return T(pick(@NUMERIC_STRINGS, @TIMESTAMP_STRINGS)) if $r < 0.8;
	}
	return [ 'NULL', undef ] if $r < 0.1;
	return pick(@HOSTILE_TEXT) if $r < 0.7;
	return T(pick(@TOPICS, @SHAPES, @NUMERIC_STRINGS, @TIMESTAMP_STRINGS, @DOMAINS ? pick(@DOMAINS) : ()));
}

sub gen_arg
{
	my ($f, $type, $name, $ctx) = @_;
	$name //= '';
	# a value of another type now and then: the call resolves to nothing, or casts
	$type = pick('bigint', 'integer', 'boolean', 'text', 'interval', 'jsonb', 'timestamp with time zone')
	  if rand() < 0.03;
	return pick('NULL', 'NULL::' . $type) if rand() < 0.04;
	if ($type eq 'bigint')
	{
		my $v = gen_bigint($name =~ /job/ ? 'job' : 'shop');
		return rand() < 0.2 ? "($v)::bigint" : $v;
	}
	return gen_int() if $type eq 'integer' || $type eq 'smallint';
	return gen_bool() if $type eq 'boolean';
	return gen_interval() if $type eq 'interval';
	return gen_timestamptz() if $type =~ /^timestamp/ || $type eq 'date';
	if ($type eq 'jsonb' || $type eq 'json')
	{
		my $v = rand() < 0.5 && $f->{name} eq '_to_id' ? T(jscalar()) : ($ctx->{body} = jdoc($ctx->{shape}));
		return "$v->[0]::$type";
	}
	if ($type =~ /^(numeric|double precision|real)$/)
	{
		return pick('NULL', "'NaN'::$type", "'Infinity'::$type", "'-Infinity'::$type", '0', '-1',
			'1e308', '-0.0', '1e-400');
	}
	if ($type eq 'text' || $type eq 'character varying' || $type eq 'name')
	{
		my $v = gen_text($f, $name, $ctx);
		return rand() < 0.15 ? "($v->[0])::text" : $v->[0];
	}
	return pick('NULL', "NULL::$type", lit(pick(@HOSTILE_TEXT)->[1]) . "::$type");
}

sub gen_call
{
	my ($f) = @_;
	my @types = @{ $f->{types} };
	my @names = @{ $f->{names} };
	my $n = @types;
	my $min = $n - $f->{ndef};
	my $k = $min + int(rand($n - $min + 1));
	my $r = rand;
	if ($r < 0.03) { $k = $n + 1; }
	elsif ($r < 0.05 && $min > 0) { $k = $min - 1; }

	# the shape of the document first (and the topic a webhook of that
	# shape would have); then the body, whose signature is computed from it
	my %ctx;
	if ($f->{name} =~ /webhook/)
	{
		my $r = rand;
		@ctx{qw(shape topic)} = $r < 0.5 ? ('rest_product', pick('products/create', 'products/update'))
		  : $r < 0.8 ? ('rest_order', pick('orders/create', 'orders/updated', 'orders/cancelled'))
		  : (undef, undef);
	}
	elsif (grep { $_ eq 'shape' } @names)
	{
		my @own = $f->{name} =~ /order/ ? grep({ /order/ } @SHAPES) : grep({ !/order/ } @SHAPES);
		$ctx{shape} = rand() < 0.85 ? pick(@own) : pick(@SHAPES);
	}
	my @vals;
	my @order = (0 .. $k - 1);
	@order = sort { (($names[$b] // '') =~ /^(body|doc)$/) <=> (($names[$a] // '') =~ /^(body|doc)$/) } @order;
	for my $i (@order)
	{
		$vals[$i] = $i < $n ? gen_arg($f, $types[$i], $names[$i], \%ctx)
		  : gen_arg($f, pick('bigint', 'text', 'boolean'), undef, \%ctx);
	}

	my $args;
	my $nr = rand;
	if ($k > $n || !@names || $nr < 0.55)
	{
		$args = join(', ', @vals);
	}
	elsif ($nr < 0.85)
	{
		# named: any order, defaulted ones may be left out
		my @idx = grep { $_ < $min || rand() < 0.7 } 0 .. $n - 1;
		@idx = shuffle(@idx);
		my %ctx2;
		my @parts = map { "$names[$_] => " . ($vals[$_] // gen_arg($f, $types[$_], $names[$_], \%ctx2)) } @idx;
		push @parts, pick('nonexistent => 1', "$names[0] => NULL") if @names && rand() < 0.03;
		$args = join(', ', @parts);
	}
	else
	{
		# mixed: positional first, then named
		my $p = int(rand($k + 1));
		$args = join(', ', @vals[0 .. $p - 1], map { "$names[$_] => $vals[$_]" } $p .. $k - 1);
	}
	my $call = "$f->{qname}($args)";
	my $form = rand;
	return "SELECT $call" if $form < 0.4;
	return "SELECT * FROM $call" if $form < 0.6;
	return "SELECT ($call)::text" if $form < 0.75;
	return "SELECT count(*) FROM $call" if $form < 0.82 && $f->{retset};
	return "SELECT $call FROM generate_series(1, 3)" if $form < 0.9;
	return "WITH x AS MATERIALIZED (SELECT $call AS r) SELECT r IS NULL FROM x";
}

# ---------------------------------------------------------------- running

my %STATES;          # sqlstate => count
my %STATES_BY_FUNC;  # func => sqlstate => count
my %MS_BY_FUNC;      # func => milliseconds
my @SLOW;            # [ms, call]
my (@XX, @INTERNAL, @PRIVLEAK, @CRASHES, @LOST, @WARNINGS);
my $calls_made = 0;

my $chunk_file = PostgreSQL::Test::Utils::tempdir() . '/chunk.sql';
my %T;    # seconds spent refreshing ids, generating, executing
# Functions that parse documents get twice the calls: most of the input
# handling is there.
my @WEIGHTED = map { my $f = $_; (grep({ /^(body|doc)$/ } @{ $f->{names} }) ? ($f, $f) : ($f)) } @FUNCS;

sub run_phase
{
	my ($role, $ncalls) = @_;
	my $connstr = $node->connstr('app') . " user=$role";
	my $done = 0;
	while ($done < $ncalls)
	{
		my $t = time;
		refresh_ids();
		$T{refresh} += time - $t;
		$t = time;
		my $n = min($CHUNK, $ncalls - $done);
		my @funcs = map { pick(@WEIGHTED) } 1 .. $n;
		my @calls = map { gen_call($_) } @funcs;
		$T{generate} += time - $t;
		my $tx = rand();
		my $sql = "SET statement_timeout = '$CALL_TIMEOUT';\nSET lock_timeout = '100ms';\n";
		$sql .= $tx < 0.1 ? "BEGIN ISOLATION LEVEL REPEATABLE READ;\n" : $tx < 0.2 ? "BEGIN;\n" : '';
		$sql .= join('', map { "SELECT '$_|' || public.fuzz_exec(" . lit($calls[$_]) . ");\n" } 0 .. $n - 1);
		$sql .= "COMMIT;\n" if $tx < 0.2;
		# psql reads a file: on a crash it exits, and a pipe would break
		open my $fh, '>:raw', $chunk_file or die "$chunk_file: $!";
		print $fh $sql;
		close $fh;
		my ($out, $err) = ('', '');
		$t = time;
		IPC::Run::run([ 'psql', '-XAtq', '-d', $connstr, '-f', $chunk_file ],
			'<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout(600));
		$T{execute} += time - $t;
		my %res;
		for my $line (split /\n/, $out)
		{
			$res{$1} = $2 if $line =~ /^(\d+)\|(.*)$/s;
		}
		for my $w ($err =~ /^(?:psql:[^\n]*?)?(WARNING:[^\n]*)/mg)
		{
			push @WARNINGS, $w;
		}
		my $lost = $err =~ /server closed the connection|connection to server was lost|terminating connection/;
		for my $i (0 .. $n - 1)
		{
			my $fname = $funcs[$i]{name};
			if (!exists $res{$i})
			{
				if ($lost && !grep { exists $res{$_} } $i + 1 .. $n - 1)
				{
					push @CRASHES, "[$role] $calls[$i]";
					diag("connection lost at call $i as $role: " . masked($calls[$i], 500));
					wait_for_server() or BAIL_OUT('the server did not come back');
					last;
				}
				push @LOST, "[$role] " . cut($calls[$i], 300) . ' :: ' . cut($err, 300);
				next;
			}
			$calls_made++;
			my ($state, $ms, $msg) = split /\|/, $res{$i}, 3;
			my $res = "$state $msg";
			$MS_BY_FUNC{$fname} += $ms;
			push @SLOW, [ $ms, $calls[$i] ] if $ms > 100;
			$STATES{$state}++;
			$STATES_BY_FUNC{$fname}{$state}++;
			push @PRIVLEAK, "[$role] $calls[$i] => $res" if $state eq 'PRIVLEAK';
			push @XX, "[$role] $calls[$i] => $res" if $state =~ /^XX/;
			push @INTERNAL, "[$role] $calls[$i] => $res"
			  if $res =~ /SPI_\w+|cache lookup failed|invalid memory alloc|unrecognized node|tuplestore|\bunexpected\b(?! end)|null pointer|corrupt|leak/i;
		}
		$done += $n;
	}
}

my $log_offset = -s $node->logfile;

# Some stores of each role before the random calls.
for my $role (qw(postgres fuzz_user fuzz_other fuzz_smith))
{
	for my $i (1 .. 2)
	{
		my $tok = new_token();
		my $dom = "fz-$role-$i.myshopify.com";
		$dom =~ s/_/-/g;
		$node->safe_psql('app', "SELECT shopify_connect_store('$dom', :'tok')",
			extra_params => [ '-v', "tok=$tok", '-U', $role ]);
		$node->safe_psql('app', "SELECT shopify_sync_products(shop_id) FROM shopify.stores WHERE shop_domain = '$dom'",
			extra_params => [ '-U', $role ]);
	}
}
refresh_ids();
ok(@SHOP_IDS >= 8, 'stores connected for the fuzzing');

my $t0 = time;
run_phase('postgres', $CALLS);
my $t_super = time - $t0;
$t0 = time;
run_phase('fuzz_user', $CALLS);
my $t_user = time - $t0;

# Churn: two sessions (a superuser and an ordinary role) enqueue, cancel,
# disconnect and reconnect their stores as fast as they can, while the
# worker claims and stops the jobs.  A job claimed in the same worker pass
# in which another is cancelled once read freed memory (the claimed jobs
# lived in SPI's memory, gone with the claim transaction).
{
	my $t = time;
	my @runs;
	for my $role (qw(postgres fuzz_user))
	{
		my @stores = map { "fz-churn-$role-$_.myshopify.com" =~ s/_/-/gr } 1 .. 4;
		my $sql = '';
		for my $i (1 .. 150)
		{
			my $dom = pick(@stores);
			my $tok = new_token();
			my $r = rand;
			$sql .= "SELECT shopify_connect_store('$dom', '$tok') AS s \\gset\n";
			if ($r < 0.1)
			{
				$sql .= "SELECT shopify_disconnect(:s);\n";
				next;
			}
			$sql .= sprintf("SELECT (shopify_sync_%s(:s)).id AS j \\gset\nSELECT pg_sleep(%.3f);\nSELECT shopify_cancel_sync(:j);\n",
				$r < 0.55 ? 'products' : 'orders', rand(0.015));
		}
		my $file = PostgreSQL::Test::Utils::tempdir() . "/churn_$role.sql";
		open my $fh, '>:raw', $file or die "$file: $!";
		print $fh $sql;
		close $fh;
		my ($out, $err) = ('', '');
		push @runs, [ IPC::Run::start([ 'psql', '-XAtq', '-d', $node->connstr('app') . " user=$role", '-f', $file ],
			'<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout(300)), \$err, $role ];
	}
	for my $r (@runs)
	{
		eval { $r->[0]->finish; 1 } or $r->[0]->kill_kill;
		my @lost = ${ $r->[1] } =~ /(server closed the connection|connection to server was lost)/g;
		push @CRASHES, "[$r->[2]] the enqueue/cancel churn lost its connection" if @lost;
	}
	note(sprintf('enqueue/cancel churn: 2 x 150 rounds in %.1f s', time - $t));
	wait_for_server() or BAIL_OUT('the server did not come back');
}

# The invariant of the helpers documented as never raising: every string of
# the pools, and the scalars of the JSON vocabulary, through each of them.
{
	my @vals = (@NUMERIC_STRINGS, @TIMESTAMP_STRINGS, map { $_->[1] } grep { length($_->[1]) < 2000 } @HOSTILE_TEXT);
	my @json = (@JSCALARS, '{}', '[]', '{"id": 1}', '[1]');
	my $sql = "SET statement_timeout = '10s';\n"
	  . join('', map { my $v = lit($_); "SELECT public.fuzz_exec('SELECT shopify._to_numeric(' || quote_literal($v) || '), shopify._to_timestamptz(' || quote_literal($v) || ')');\n" } @vals)
	  . join('', map { my $v = lit($_); "SELECT public.fuzz_exec('SELECT shopify._to_id(' || quote_literal($v) || '::jsonb)');\n" } grep { $_ !~ /\\u0000|\\ud800/ } @json);
	my $out = $node->safe_psql('app', $sql);
	my @bad = grep { !/^00000\|/ } split /\n/, $out;
	is(scalar(@bad), 0, 'shopify._to_numeric, _to_timestamptz and _to_id never raise an error')
	  or diag(join("\n", @bad[0 .. min(9, $#bad)]));
}

# Let the worker take the stored webhook events and jobs, then look.
wait_until(sub {
	$node->safe_psql('app', 'SELECT count(*) FROM shopify.webhook_events WHERE NOT processed'
		  . ' AND (next_attempt_at IS NULL OR next_attempt_at <= now())') eq '0'
}, 20);
sleep 1;

# ---------------------------------------------------------------- verdicts

my $summary = join(', ', map { "$_: $STATES{$_}" } sort { $STATES{$b} <=> $STATES{$a} } keys %STATES);
note(sprintf('%d calls made (%d per role asked; superuser %.1f s, unprivileged %.1f s;'
	  . ' generating %.1f s, executing %.1f s, refreshing ids %.1f s)',
	$calls_made, $CALLS, $t_super, $t_user, $T{generate}, $T{execute}, $T{refresh}));
note("SQLSTATEs: $summary");
for my $f (sort keys %STATES_BY_FUNC)
{
	my $h = $STATES_BY_FUNC{$f};
	note(sprintf("  %s (%.1f s): ", $f, ($MS_BY_FUNC{$f} // 0) / 1000)
		  . join(', ', map { "$_ $h->{$_}" } sort { $h->{$b} <=> $h->{$a} } keys %$h));
}
@SLOW = sort { $b->[0] <=> $a->[0] } @SLOW;
note(sprintf('%d calls took over 100 ms; the slowest: %s', scalar(@SLOW),
	join(' | ', map { "$_->[0] ms " . masked($_->[1], 160) } @SLOW[0 .. min(4, $#SLOW)]))) if @SLOW;
my $untouched = join(', ', grep { !$STATES_BY_FUNC{$_->{name}} } @FUNCS);
is($untouched, '', 'every function was called');
note(scalar(@LOST) . ' calls did not report (an error outside the EXCEPTION block), e.g. ' . masked($LOST[0], 300))
  if @LOST;
ok($calls_made >= 2 * $CALLS * 0.98, "the calls ran ($calls_made)")
  or diag(join("\n", map { masked($_, 400) } @LOST[0 .. min(9, $#LOST)]));

is(scalar(@CRASHES), 0, 'no call lost its connection') or diag(join("\n", map { masked($_) } @CRASHES));
is(scalar(@XX), 0, 'no SQLSTATE XX000/XX001/XX002') or diag(join("\n", map { masked($_) } @XX[0 .. min(19, $#XX)]));
is(scalar(@INTERNAL), 0, 'no internal-looking error messages')
  or diag(join("\n", map { masked($_) } @INTERNAL[0 .. min(19, $#INTERNAL)]));
is(scalar(@PRIVLEAK), 0, 'the calling role is never left elevated after a caught error')
  or diag(join("\n", map { masked($_) } @PRIVLEAK[0 .. min(9, $#PRIVLEAK)]));
my @leaks = grep { /leak|not closed|still referenced|still pinned/i } @WARNINGS;
is(scalar(@leaks), 0, 'no leak warnings') or diag(join("\n", @leaks[0 .. min(9, $#leaks)]));
my %wcount;
$wcount{ cut($_, 120) }++ for @WARNINGS;
note("warnings: " . join('; ', map { "$wcount{$_}x $_" } sort keys %wcount)) if @WARNINGS;

# Text the extension stored must be valid UTF-8 (no string cut inside a character).
my $bad_text = $node->safe_psql('app', q{
SELECT string_agg(t || ' ' || n, ', ') FROM (
  SELECT 'sync_log' AS t, count(*) AS n FROM shopify.sync_log
   WHERE NOT fuzz_valid_text(coalesce(message, '') || details::text)
  UNION ALL SELECT 'webhook_events', count(*) FROM shopify.webhook_events
   WHERE NOT fuzz_valid_text(coalesce(error, '') || coalesce(note, ''))
  UNION ALL SELECT 'sync_jobs', count(*) FROM shopify.sync_jobs WHERE NOT fuzz_valid_text(coalesce(error, ''))
  UNION ALL SELECT 'stores', count(*) FROM shopify.stores
   WHERE NOT fuzz_valid_text(coalesce(last_error, '') || coalesce(shop_name, ''))) x
 WHERE n > 0});
is($bad_text, '', 'every text stored by the extension is valid UTF-8 (rows cut inside a character)');

# ---------------------------------------------------------------- sqlsmith

my %SMITH = (queries => 0);
SKIP:
{
	my $sqlsmith = `command -v sqlsmith 2>/dev/null`;
	chomp $sqlsmith;
	skip 'sqlsmith is not installed (scripts/install-deps.sh installs it)', 2 unless $sqlsmith;
	skip 'FUZZ_SQLSMITH_QUERIES=0', 2 unless $SMITH_QUERIES > 0;
	my $off = -s $node->logfile;
	my $t = time;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ $sqlsmith, '--target=' . $node->connstr('app') . ' user=fuzz_smith',
			"--seed=$SEED", "--max-queries=$SMITH_QUERIES", '--verbose' ],
		'<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout(600));
	eval { $h->finish; 1 } or do { $h->kill_kill; diag("sqlsmith: $@"); };
	$SMITH{seconds} = time - $t;
	# a report every few hundred queries: the last one counts
	$SMITH{queries} = ($err . $out) =~ /.*queries: (\d+)/s ? $1 : 0;
	$SMITH{rc} = $h->result(0) // -1;
	note(sprintf('sqlsmith: %d queries in %.1f s (seed %d, exit %s)',
		$SMITH{queries}, $SMITH{seconds}, $SEED, $SMITH{rc}));
	($SMITH{error_rate}) = ($err . $out) =~ /.*error rate: ([\d.]+)/s;
	note("sqlsmith error rate: $SMITH{error_rate}") if defined $SMITH{error_rate};

	# A crash whose query does not involve the extension is core PostgreSQL's:
	# reported, excluded.  Anything in a shopify_sync process or query counts.
	my $log = slurp_file($node->logfile, $off);
	my @ours;
	while ($log =~ /^.*(?:terminated by signal|was terminated by exception|PANIC:|TRAP:).*\n(?:.*DETAIL:\s+Failed process was running: (.*)\n)?/mg)
	{
		my ($line, $query) = ($&, $1 // '');
		if ($line =~ /shopify/ || $query =~ /shopify/)
		{
			push @ours, $line;
		}
		else
		{
			diag("sqlsmith crashed core PostgreSQL (excluded, not shopify_sync): $line");
			$SMITH{core_crashes}++;
		}
	}
	is(scalar(@ours), 0, 'sqlsmith did not crash the server through shopify_sync') or diag(join("\n", @ours));
	ok($SMITH{queries} > 0, 'sqlsmith ran queries')
	  or diag("sqlsmith output: " . substr($err . $out, -2000));
	wait_for_server();
}

# ---------------------------------------------------------------- the server

my $log = slurp_file($node->logfile, $log_offset);
my @bad_lines =
  ($log =~ /^.*(?:terminated by signal|PANIC:|TRAP:|server process .* was terminated|exited with exit code [1-9]|terminating any other active server processes).*$/mg);
if ($SMITH{core_crashes})
{
	# keep only the lines that concern the extension (its worker, killed
	# with everything else by the core crash, exits with code 2)
	@bad_lines = grep { /shopify/ && !/exited with exit code/ } @bad_lines;
}
is(scalar(@bad_lines), 0, 'no crash, PANIC, assertion failure or abnormal exit in the server log')
  or diag(join("\n", @bad_lines[0 .. min(19, $#bad_lines)]));
my $pm_now = slurp_file($node->data_dir . '/postmaster.pid') =~ /^(\d+)/ ? $1 : 0;
is($pm_now, $postmaster_pid, 'postmaster pid unchanged');
my $worker_after = worker_pid($node);
ok($worker_after > 0, 'the shopify_sync worker is alive');
is($worker_after, $worker_before, 'the shopify_sync worker was never restarted') unless $SMITH{core_crashes};

# A statement of this test that failed outside fuzz_exec (counted above as a
# lost call) is logged with its text: a token in it was never seen by the
# extension.  Those lines aside, no secret may appear.
(my $log_ext = $log) =~ s/^.*STATEMENT:  SELECT '\d+\|' \|\| public\.fuzz_exec\(.*$//mg;
my @leaked = grep { index($log_ext, $_) >= 0 } sort keys %SECRETS;
is(scalar(@leaked), 0, 'no access token or webhook secret in the server log ('
	  . scalar(keys %SECRETS) . ' secrets checked)')
  or diag('leaked: ' . join(', ', map { "$SECRETS{$_} " . substr($_, 0, 8) . '...' } @leaked));

note(sprintf('elapsed %.1f s in all', time - $t_start));
$node->stop('fast');
done_testing();
