# Webhooks end to end: deliveries signed like Shopify's land in the mirror
# within moments; out-of-order older updates change nothing; deletes,
# uninstall and redact; a flood is refused while other shops pass; a failing
# event is retried, then failed, without blocking the others; 1,000 events in
# order leave the mirror equal to the catalog.
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

my $secret = 'test-webhook-secret-' . int(rand(1e9));
my $w = ShopifyStandin::make_shop(domain => 'hooked.myshopify.com', products => 300, bucket => undef);
my $x = ShopifyStandin::make_shop(domain => 'noisy.myshopify.com', products => 60, bucket => undef);
my $standin = ShopifyStandin->start(config => { shops => [ $w, $x ] },
	dir => PostgreSQL::Test::Utils::tempdir());
my $node = new_sync_node('webhooks', api => 'rest', base_url => $standin->base_url, conf => <<"EOF");
shopify_sync.webhook_secret = '$secret'
shopify_sync.webhook_max_attempts = 2
EOF
my $sw = connect_shop($node, $w);
my $sx = connect_shop($node, $x);
is(run_sync($node, $sw)->{status}, 'completed', 'baseline sync of the first shop');
is(run_sync($node, $sx)->{status}, 'completed', 'baseline sync of the second shop');
my $json = JSON::PP->new->utf8->canonical;

sub sign
{
	my $s = hmac_sha256_base64($_[0], $secret);
	$s .= '=' while length($s) % 4;
	return $s;
}

# The products/update body Shopify would send for a product, now.
sub product_body
{
	my ($shop, $pid) = @_;
	my $r = $standin->api($shop->{token}, GET => "/admin/api/2026-07/products/$pid.json");
	die "GET product $pid: $r->{status}" unless $r->{success};
	my $p = decode_json($r->{content})->{product};
	$p->{variant_gids} = [ map { { admin_graphql_api_id => "gid://shopify/ProductVariant/$_->{id}",
		updated_at => $_->{updated_at} } } @{ $p->{variants} } ];
	return $json->encode($p);
}

my $seq = 0;
# SQL for one delivery; the body travels as a dollar-quoted literal.
sub delivery_sql
{
	my ($shop, $topic, $body, %o) = @_;
	my $id = $o{webhook_id} // ('wh-' . $$ . '-' . ++$seq);
	my $sig = $o{sig} // sign($body);
	my $tag = '$b' . int(rand(1e6)) . '$';
	return "SELECT shopify_receive_webhook('$topic', '$shop->{domain}', '$sig', ${tag}${body}${tag}, '$id');\n";
}

sub deliver
{
	return $node->safe_psql('app', delivery_sql(@_));
}

sub wait_processed
{
	my ($event_id, $timeout) = @_;
	return wait_until(sub {
		$node->safe_psql('app', "SELECT processed FROM shopify.webhook_events WHERE id = $event_id") eq 't'
	}, $timeout // 20);
}

sub product_rows
{
	my ($pid) = @_;
	return $node->safe_psql('app',
		"SELECT string_agg(DISTINCT title || '|' || is_active, ',') FROM shopify.products WHERE product_id = $pid");
}

# ---- an update lands in the mirror within moments
my @pids = map { $_->{product_id} } @{ $standin->expected($w->{domain}, 'rest') };
my %seen_pid;
@pids = grep { !$seen_pid{$_}++ } @pids;
my $p1 = $pids[10];
$standin->mutate($w->{domain}, { ops => [ { op => 'update', product_id => $p1, title => 'Changed by webhook' } ] });
my $body_a = product_body($w, $p1);
my $t0 = time;
my $e = deliver($w, 'products/update', $body_a);
ok(wait_until(sub { product_rows($p1) eq 'Changed by webhook|true' }, 10), 'the update reached the mirror');
my $latency = time - $t0;
cmp_ok($latency, '<', 2.0, sprintf('within %.2f s of the delivery', $latency));
ok(wait_processed($e), 'event marked processed');
is($node->safe_psql('app', "SELECT error IS NULL AND note LIKE 'applied%' FROM shopify.webhook_events WHERE id = $e"),
	't', 'processed without error, with a note');

# ---- out of order: an older update delivered late changes nothing
sleep 1;
$standin->mutate($w->{domain}, { ops => [ { op => 'update', product_id => $p1, title => 'Newer title' } ] });
my $body_b = product_body($w, $p1);
$e = deliver($w, 'products/update', $body_b);
wait_processed($e);
is(product_rows($p1), 'Newer title|true', 'newer update applied');
$e = deliver($w, 'products/update', $body_a);	# a different delivery of the older payload
wait_processed($e);
is(product_rows($p1), 'Newer title|true', 'the older update delivered late changed nothing');
like($node->safe_psql('app', "SELECT note FROM shopify.webhook_events WHERE id = $e"), qr/older than the mirror/,
	'and says so');

# ---- create, removed variant, delete
my $created = $standin->mutate($w->{domain}, { create => 1, seed => 5 })->{created}[0];
$e = deliver($w, 'products/create', product_body($w, $created));
wait_processed($e);
cmp_ok($node->safe_psql('app', "SELECT count(*) FROM shopify.products WHERE product_id = $created AND is_active"),
	'>', 0, 'products/create added the variants');

my ($multi) = grep { $node->safe_psql('app', "SELECT count(*) FROM shopify.products WHERE product_id = $_") > 2 } @pids[20 .. 60];
my $victim = $node->safe_psql('app', "SELECT max(sku_id) FROM shopify.products WHERE product_id = $multi");
$standin->mutate($w->{domain}, { ops => [ { op => 'delete_variant', product_id => $multi, variant_id => $victim + 0 } ] });
$e = deliver($w, 'products/update', product_body($w, $multi));
wait_processed($e);
is($node->safe_psql('app', "SELECT is_active FROM shopify.products WHERE sku_id = $victim"), 'f',
	'a variant removed in Shopify became inactive');
my $diff = mirror_diff($node, $standin, $w->{domain}, $sw);
is($diff->{missing} + $diff->{extra}, 0, 'mirror exact after create, update and variant removal');

my $doomed = $pids[30];
my $before_delete = product_body($w, $doomed);
$standin->mutate($w->{domain}, { ops => [ { op => 'delete', product_id => $doomed } ] });
$e = deliver($w, 'products/delete', qq({"id":$doomed}));
wait_processed($e);
is($node->safe_psql('app', "SELECT bool_and(NOT is_active) FROM shopify.products WHERE product_id = $doomed"), 't',
	'products/delete deactivated the product');
$e = deliver($w, 'products/update', $before_delete);
wait_processed($e);
is($node->safe_psql('app', "SELECT bool_and(NOT is_active) FROM shopify.products WHERE product_id = $doomed"), 't',
	'an update from before the delete, delivered after it, does not bring it back');

# ---- 1,000 events in order, the mirror equal to the catalog afterwards
# 20 rounds: update 50 products, fetch them, deliver them; each product's
# 20 versions arrive in order and only the last one may remain.
my @batch = ("SET shopify_sync.webhook_rate_limit = 0;\n");
my @some = @pids[100 .. 149];
for my $round (1 .. 20)
{
	$standin->mutate($w->{domain},
		{ ops => [ map { { op => 'update', product_id => $_, title => "Version $round of $_" } } @some ] });
	my $r = $standin->api($w->{token}, GET => '/admin/api/2026-07/products.json?limit=250&ids=' . join(',', @some));
	die "products.json: $r->{status}" unless $r->{success};
	for my $p (@{ decode_json($r->{content})->{products} })
	{
		$p->{variant_gids} = [ map { { admin_graphql_api_id => "gid://shopify/ProductVariant/$_->{id}" } } @{ $p->{variants} } ];
		push @batch, delivery_sql($w, 'products/update', $json->encode($p));
	}
}
is(scalar(@batch) - 1, 1000, '1,000 deliveries prepared');
my $script = join('', @batch);
$t0 = time;
$node->safe_psql('app', $script);
my $ingest = time - $t0;
my $rate = 1000 / $ingest;
note(sprintf('ingestion: 1,000 deliveries in %.2f s = %.0f events/s through shopify_receive_webhook', $ingest, $rate));
cmp_ok($rate, '>', 50, sprintf('ingestion rate %.0f events/s', $rate));
ok(wait_until(sub {
	$node->safe_psql('app', "SELECT count(*) FROM shopify.webhook_events WHERE NOT processed") eq '0' }, 120),
	'all 1,000 events processed');
is($node->safe_psql('app', "SELECT count(*) FROM shopify.webhook_events WHERE error IS NOT NULL"), '0',
	'none failed');
$diff = mirror_diff($node, $standin, $w->{domain}, $sw);
is($diff->{missing} + $diff->{extra}, 0, 'after 1,000 events the mirror equals the catalog') or diag explain $diff;
my $order = $node->safe_psql('app', qq{
	SELECT bool_and(processed_at >= lag) FROM (
	  SELECT processed_at, lag(processed_at, 1, '-infinity') OVER (ORDER BY id)
	    FROM shopify.webhook_events WHERE webhook_id LIKE 'wh-%' AND topic = 'products/update') x});
is($order, 't', 'events were applied in order of arrival');

# ---- a failing event is retried, then failed, without blocking the others
my $bad = deliver($w, 'products/update', '[1, 2, 3]');
my $good_pid = $pids[5];
$standin->mutate($w->{domain}, { ops => [ { op => 'update', product_id => $good_pid, title => 'After the bad one' } ] });
my $good = deliver($w, 'products/update', product_body($w, $good_pid));
ok(wait_processed($good, 10), 'the event behind the failing one was processed');
is($node->safe_psql('app', "SELECT processed FROM shopify.webhook_events WHERE id = $bad"), 'f',
	'the failing event waits for its retry');
ok(wait_processed($bad, 30), 'the failing event ends processed');
is($node->safe_psql('app', "SELECT attempts || ' ' || (error <> '') || ' ' || note FROM shopify.webhook_events WHERE id = $bad"),
	'2 true failed after 2 attempts', 'failed after shopify_sync.webhook_max_attempts with its error');
like($node->safe_psql('app', "SELECT error FROM shopify.webhook_events WHERE id = $bad"),
	qr/not a product/, 'the error says what was wrong');
cmp_ok($node->safe_psql('app', "SELECT count(*) FROM shopify.sync_log WHERE details->>'event_id' = '$bad' AND details->>'outcome' IN ('retry', 'failed')"),
	'>=', 2, 'each failure logged');

# ---- a forged delivery: refused, logged as a security event, nothing stored
my ($ret, $out, $err) = $node->psql('app', delivery_sql($w, 'products/update', '{"id": 1}', sig => 'Zm9yZ2Vk'));
like($err, qr/signature does not match/, 'forged delivery refused');
ok(wait_until(sub {
	$node->safe_psql('app', "SELECT count(*) FROM shopify.sync_log WHERE event = 'security' AND details->>'reason' = 'signature mismatch'") ne '0' }, 10),
	'the refusal is in the log table');
unlike($node->safe_psql('app', "SELECT string_agg(coalesce(message, '') || details::text, ' ') FROM shopify.sync_log"),
	qr/\Q$secret\E/, 'the secret is in no log row');
# an access token handed in the wrong argument (as the shop domain) is
# refused, and the refusal's log row does not quote it
my $misplaced = fake_token();
($ret, $out, $err) = $node->psql('app', "SELECT shopify_receive_webhook('products/update', :'tok', 'Zm9yZ2Vk', '{}')",
	extra_params => [ '-v', "tok=$misplaced" ]);
isnt($ret, 0, 'a token given as the shop domain is refused');
unlike($err, qr/\Q$misplaced\E/, 'the error does not quote it');
ok(wait_until(sub {
	$node->safe_psql('app', "SELECT count(*) FROM shopify.sync_log WHERE event = 'security' AND details::text LIKE '%shpat_***%'") ne '0' }, 10),
	'the refusal is logged, the token scrubbed (shpat_***...)');
is($node->safe_psql('app', "SELECT count(*) FROM shopify.sync_log WHERE position(:'tok' IN coalesce(message, '') || details::text) > 0",
	extra_params => [ '-v', "tok=$misplaced" ]), '0', 'the token is in no log row');
# a rotation: the previous secret stays valid; neither value reaches the server log
my $new_secret = 'rotated-secret-' . int(rand(1e9));
$node->safe_psql('app', "ALTER SYSTEM SET shopify_sync.webhook_previous_secret = '$secret'");
$node->safe_psql('app', "ALTER SYSTEM SET shopify_sync.webhook_secret = '$new_secret'");
$node->reload;
sleep 1;
my $old_signed = deliver($w, 'products/update', product_body($w, $pids[3]));
ok($old_signed > 0, 'a delivery signed with the previous secret is still accepted after the rotation');
{
	my $keep = $secret;
	$secret = $new_secret;
	ok(deliver($w, 'products/update', product_body($w, $pids[4])) > 0, 'and one signed with the new secret');
	$secret = $keep;
}
my $log = slurp_file($node->logfile);
unlike($log, qr/\Q$secret\E/, 'the old secret is not in the server log');
unlike($log, qr/\Q$new_secret\E/, 'the new secret is not in the server log');

# ---- a flood is refused by the rate limit while another shop's events pass
$node->safe_psql('app', "ALTER SYSTEM SET shopify_sync.webhook_rate_limit = 5");
$node->safe_psql('app', "ALTER SYSTEM SET shopify_sync.webhook_rate_burst = 10");
$node->reload;
sleep 1;
my $flood = join('', map { delivery_sql($x, 'customers/create', qq({"id": $_})) } 1 .. 100);
($ret, $out, $err) = $node->psql('app', $flood, on_error_stop => 0);
my $refused = () = $err =~ /too many webhook deliveries/g;
cmp_ok($refused, '>=', 80, "$refused of 100 flooding deliveries refused (SQLSTATE 53400)");
my $stored = $node->safe_psql('app', "SELECT count(*) FROM shopify.webhook_events WHERE shop_id = $sx AND topic = 'customers/create'");
cmp_ok($stored, '<=', 20, "only $stored stored");
my $other_ok = 0;
for (1 .. 5)
{
	my ($r2) = $node->psql('app', delivery_sql($w, 'products/update', product_body($w, $pids[7])));
	$other_ok++ if $r2 == 0;
}
is($other_ok, 5, "the other shop's deliveries pass meanwhile");
ok(wait_until(sub {
	$node->safe_psql('app', "SELECT count(*) FROM shopify.sync_log WHERE shop_id = $sx AND details->>'reason' = 'rate limited'") ne '0' }, 10),
	'the flood is logged (once per second, not per delivery)');
cmp_ok($node->safe_psql('app', "SELECT count(*) FROM shopify.sync_log WHERE shop_id = $sx AND details->>'reason' = 'rate limited'"),
	'<', 10, 'without flooding the log');
is($node->safe_psql('app', "SELECT note FROM shopify.webhook_events WHERE shop_id = $sx AND topic = 'customers/create' ORDER BY id LIMIT 1"),
	'', 'unknown topics are stored') if 0;
ok(wait_until(sub {
	$node->safe_psql('app', "SELECT count(*) FROM shopify.webhook_events WHERE shop_id = $sx AND NOT processed") eq '0' }, 20),
	'deliveries of a resource the store does not sync are marked processed');
like($node->safe_psql('app', "SELECT note FROM shopify.webhook_events WHERE shop_id = $sx AND topic = 'customers/create' LIMIT 1"),
	qr/ignored: the store does not sync customers/, 'with a note (customers are opt-in)');
$node->safe_psql('app', "ALTER SYSTEM RESET shopify_sync.webhook_rate_limit");
$node->safe_psql('app', "ALTER SYSTEM RESET shopify_sync.webhook_rate_burst");
$node->reload;
sleep 1;

# ---- app/uninstalled disconnects; shop/redact purges
$e = deliver($x, 'app/uninstalled', qq({"id": 1, "domain": "$x->{domain}"}));
wait_processed($e);
is($node->safe_psql('app', "SELECT is_active || ' ' || token_status FROM shopify.stores WHERE shop_id = $sx"),
	'false none', 'app/uninstalled disconnected the store');
is($node->safe_psql('app', "SELECT count(*) FROM shopify.products WHERE shop_id = $sx AND is_active"), '0',
	'its rows are inactive');
is($node->safe_psql('app', "SELECT count(*) FROM shopify.sync_log WHERE shop_id = $sx AND details->>'by' = 'app/uninstalled webhook'"),
	'1', 'logged as a disconnect');
$e = deliver($x, 'shop/redact', qq({"shop_id": 1, "shop_domain": "$x->{domain}"}));
ok(wait_until(sub { $node->safe_psql('app', "SELECT count(*) FROM shopify.stores WHERE shop_id = $sx") eq '0' }, 20),
	'shop/redact removed the store');
is($node->safe_psql('app', qq{SELECT (SELECT count(*) FROM shopify.products WHERE shop_id = $sx)
	+ (SELECT count(*) FROM shopify.sync_jobs WHERE shop_id = $sx)
	+ (SELECT count(*) FROM shopify.webhook_events WHERE shop_id = $sx)
	+ (SELECT count(*) FROM shopify.sync_log WHERE shop_id = $sx)}), '0',
	'and its rows, jobs, events and log rows');
is($node->safe_psql('app', "SELECT count(*) FROM shopify.products WHERE shop_id = $sw AND is_active") > 0 ? 't' : 'f',
	't', 'the other store is untouched');

$node->stop;
$standin->stop;
done_testing();
