# The webhook listener (shopify_sync.webhook_listen): Shopify's deliveries
# over HTTP straight into the database.  Every answer (200 stored and
# duplicate, 400, 401, 404, 405, 409, 410, 413, 429, 503); a delivery stored
# and applied to the mirror once, through nginx with TLS as Shopify sends it
# (curl, a throw-away certificate); slow clients and idle connections closed
# after shopify_sync.webhook_listen_timeout; connections beyond the limit
# refused while a good delivery passes once they close; hostile requests and
# 10,000 random ones from a seeded generator: no crash, no row without a
# valid signature, every answer a clean HTTP status; the listener killed with
# kill -9 (the postmaster restarts every process: the sync worker too, whose
# job resumes) and terminated (only it restarts); a fresh cluster answers
# 503 until the database and the extension exist; no secret in the logs.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use JSON::PP;
use IPC::Run ();
use ShopifySyncNode;
use ShopifyStandin;
use ShopifyListener;

my $seed = $ENV{LISTENER_SEED} // int(rand(1e6));
note("seed $seed (LISTENER_SEED)");
srand($seed);
my $secret = 'listener-secret-' . int(rand(1e9));
my $shop = ShopifyStandin::make_shop(domain => 'listened.myshopify.com', products => 120, bucket => undef);
my $gone = ShopifyStandin::make_shop(domain => 'departed.myshopify.com', products => 5, bucket => undef);
my $standin = ShopifyStandin->start(config => { shops => [ $shop, $gone ] },
	dir => PostgreSQL::Test::Utils::tempdir());
my $lport = PostgreSQL::Test::Cluster::get_free_port();
my $node = new_sync_node('listener', api => 'rest', base_url => $standin->base_url, conf => <<"EOF");
shopify_sync.webhook_secret = '$secret'
shopify_sync.webhook_listen = '127.0.0.1:$lport'
shopify_sync.webhook_listen_timeout = 2s
restart_after_crash = on
EOF
my $json = JSON::PP->new->utf8->canonical;
sub sq { return $node->safe_psql('app', $_[0]); }
sub listener_pid { return ShopifySyncNode::_bg_pid($node, 'shopify_sync webhook listener'); }

ok(wait_until(sub { listener_pid() > 0 }, 20), 'the listener is in pg_stat_activity as "shopify_sync webhook listener"');
my $sid = connect_shop($node, $shop);
my $gid = connect_shop($node, $gone);
is(run_sync($node, $sid)->{status}, 'completed', 'baseline sync');
$node->safe_psql('app', "SELECT shopify_disconnect($gid)");
my @pids = do { my %s; grep { !$s{$_}++ } map { $_->{product_id} } @{ $standin->expected($shop->{domain}, 'rest') } };

# products/update as Shopify sends it, for a product now
sub product_body
{
	my ($pid) = @_;
	my $r = $standin->api($shop->{token}, GET => "/admin/api/2026-07/products/$pid.json");
	die "GET product $pid: $r->{status}" unless $r->{success};
	my $p = decode_json($r->{content})->{product};
	$p->{variant_gids} = [ map { { admin_graphql_api_id => "gid://shopify/ProductVariant/$_->{id}" } } @{ $p->{variants} } ];
	return $json->encode($p);
}
my $seq = 0;
sub send_one
{
	my ($body, %o) = @_;
	return deliver_http($lport, $body, topic => 'products/update', domain => $shop->{domain},
		secret => $secret, webhook_id => 'lw-' . $$ . '-' . ++$seq, %o);
}
sub events { return sq("SELECT count(*) FROM shopify.webhook_events"); }

# ---- 200: stored, applied once; a repeated delivery is a duplicate
my $p1 = $pids[3];
$standin->mutate($shop->{domain}, { ops => [ { op => 'update', product_id => $p1, title => 'Changed over HTTP' } ] });
my $body = product_body($p1);
my $r = send_one($body, webhook_id => 'lw-first', triggered_at => '2026-12-06T10:00:00.123456789Z');
is($r->{status}, '200', 'a signed delivery is answered 200');
my $ans = eval { decode_json($r->{body}) } // {};
ok($ans->{event_id} && !$ans->{duplicate}, "with its event id ($ans->{event_id})");
ok(wait_until(sub { sq("SELECT string_agg(DISTINCT title, ',') FROM shopify.products WHERE product_id = $p1") eq 'Changed over HTTP' }, 10),
	'the update reached the mirror');
is($node->safe_psql('app', "SELECT payload = :'b'::jsonb AND triggered_at = '2026-12-06 10:00:00.123457+00' AND webhook_id = 'lw-first' FROM shopify.webhook_events WHERE id = $ans->{event_id}",
	extra_params => [ '-v', "b=$body" ]),
	't', 'stored with its body, X-Shopify-Webhook-Id and X-Shopify-Triggered-At');
ok(wait_until(sub { sq("SELECT processed FROM shopify.webhook_events WHERE id = $ans->{event_id}") eq 't' }, 10),
	'and processed');
$r = send_one($body, webhook_id => 'lw-first');
my $dup = eval { decode_json($r->{body}) } // {};
is("$r->{status} " . ($dup->{event_id} // '') . ' ' . ($dup->{duplicate} ? 'dup' : ''), "200 $ans->{event_id} dup",
	'a repeated delivery: 200 with the first event id, marked duplicate');
is(sq("SELECT count(*) FROM shopify.webhook_events WHERE webhook_id = 'lw-first'"), '1', 'stored once');
is(sq("SELECT count(*) FROM shopify.sync_log WHERE details->>'event_id' = '$ans->{event_id}' AND details->>'outcome' = 'applied'"),
	'1', 'applied once');
$r = send_one($body, keep_alive => 1, extra => [ 'Expect: 100-continue' ]);
is($r->{status}, '200', 'Expect: 100-continue and keep-alive are served');

# ---- refusals, each with a clean status
my $n0 = events();
$r = send_one('{"id": 1}', sig => 'Zm9yZ2Vk');
is($r->{status}, '401', '401 for a forged signature');
is($r->{headers}{'www-authenticate'} // '', 'X-Shopify-Hmac-Sha256', 'with WWW-Authenticate');
$r = send_one('{"id": 1}', no_sig => 1);
is($r->{status}, '401', '401 without X-Shopify-Hmac-Sha256');
$r = send_one('{"id": 1}', secret => $secret . 'x');
is($r->{status}, '401', '401 for a body signed with another secret');
$r = send_one('{"id": 1}', topic => 'Products/Update');
is($r->{status}, '400', '400 for an invalid topic');
$r = send_one('{"id": 1}', topic => undef);
is($r->{status}, '400', '400 without X-Shopify-Topic');
$r = send_one('{"id": 1}', domain => undef);
is($r->{status}, '400', '400 without X-Shopify-Shop-Domain');
$r = send_one('{"id": 1', );
is($r->{status}, '400', '400 for a signed body that is not JSON');
$r = send_one("{\"id\": \"\xff\xfe\"}");
is($r->{status}, '400', '400 for a signed body that is not UTF-8');
$r = send_one('{"id": 1}', domain => "bad\xff.myshopify.com");
is($r->{status}, '400', '400 for a header that is not UTF-8');
$r = send_one('{"id": 1}', webhook_id => 'x' x 300);
is($r->{status}, '400', '400 for an overlong X-Shopify-Webhook-Id');
$r = send_one('{"id": 1}', domain => 'stranger.myshopify.com');
is($r->{status}, '404', '404 for a shop that is not connected (signed by the app, so Shopify retries it)');
$r = send_one('{"id": 1}', domain => $gone->{domain});
is($r->{status}, '410', '410 for a disconnected store');
$r = send_one('{"customer": {"id": 1}}', domain => $gone->{domain}, topic => 'customers/redact', webhook_id => 'lw-redact-gone');
is($r->{status}, '200', 'but its customers/redact is stored (GDPR topics concern gone stores)');
$r = send_one('{"id": 1}', webhook_id => 'lw-redact-gone');
is($r->{status}, '409', '409 for a webhook id received for another store');
$r = raw_request($lport, "GET /shopify/webhooks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
is($r->{status} . ' ' . ($r->{headers}{allow} // ''), '405 POST', '405 for GET, with Allow: POST');
for my $m (qw(PUT DELETE PATCH OPTIONS))
{
	$r = raw_request($lport, delivery_request('{}', method => $m, topic => 'a/b', domain => $shop->{domain}, secret => $secret));
	is($r->{status}, '405', "405 for $m");
}
$r = send_one('{"id": 1}', path => '/shopify/webhook');
is($r->{status}, '404', '404 for another path');
$r = send_one('{"id": 1}', path => '/');
is($r->{status}, '404', '404 for /');
is(events(), $n0 + 1, 'of all these only the customers/redact of the gone store was stored');
ok(wait_until(sub { sq("SELECT count(*) FROM shopify.sync_log WHERE event = 'security' AND details->>'reason' = 'signature mismatch'") >= 2 }, 10),
	'forged deliveries are logged as security events');
like(sq("SELECT details::text FROM shopify.sync_log WHERE event = 'security' AND details->>'reason' = 'signature mismatch' LIMIT 1"),
	qr/"body_sha256": "[0-9a-f]{64}"/, 'with the body\'s SHA-256, not the body');
ok(wait_until(sub { sq("SELECT count(*) FROM shopify.sync_log WHERE details->>'reason' = 'unknown shop'") > 0 }, 10),
	'the unknown shop is logged');

# ---- 413: over shopify_sync.webhook_max_body (by Content-Length, and chunked)
$node->safe_psql('app', "ALTER SYSTEM SET shopify_sync.webhook_max_body = '64kB'");
$node->reload;
sleep 1;
my $big = '{"id": 1, "pad": "' . ('x' x 100_000) . '"}';
$r = send_one($big);
is($r->{status}, '413', '413 for a body over shopify_sync.webhook_max_body');
$r = send_one($big, chunked => 1);
is($r->{status}, '413', '413 for a chunked body that grows over it');
$r = raw_request($lport, "POST /shopify/webhooks HTTP/1.1\r\nHost: x\r\nContent-Length: 20000000\r\n\r\n", timeout => 5);
is($r->{status}, '413', '413 at once for a declared 20 MB body, before it is sent');
$r = send_one(product_body($pids[5]), chunked => 1);
is($r->{status}, '200', 'a chunked delivery within the limit is stored');
$node->safe_psql('app', "ALTER SYSTEM RESET shopify_sync.webhook_max_body");
$node->reload;

# ---- 429 with Retry-After when a shop is over its rate
$node->safe_psql('app', "ALTER SYSTEM SET shopify_sync.webhook_rate_limit = 1");
$node->safe_psql('app', "ALTER SYSTEM SET shopify_sync.webhook_rate_burst = 2");
$node->reload;
sleep 1;
my %st;
for (1 .. 6) { $r = send_one('{"id": 1}', topic => 'customers/create'); $st{ $r->{status} }++; $st{ra} = $r->{headers}{'retry-after'} if $r->{status} eq '429'; }
ok(($st{429} // 0) >= 3 && ($st{200} // 0) >= 1, "a flood: " . ($st{200} // 0) . " stored, " . ($st{429} // 0) . ' answered 429');
ok(($st{ra} // 0) >= 1, 'with Retry-After');
$node->safe_psql('app', "ALTER SYSTEM SET shopify_sync.webhook_rate_limit = 0");
$node->safe_psql('app', "ALTER SYSTEM RESET shopify_sync.webhook_rate_burst");
$node->reload;
sleep 1;

# ---- 503 while the extension is not installed; the sync worker is never in the way
# (a second cluster: before the database exists, before the extension, then 200)
my $lport2 = PostgreSQL::Test::Cluster::get_free_port();
my $fresh = new_sync_node('listener_fresh', create_db => 0, conf => <<"EOF");
shopify_sync.webhook_secret = '$secret'
shopify_sync.webhook_listen = '127.0.0.1:$lport2'
EOF
my $fbody = '{"id": 77}';
my %fo = (topic => 'customers/create', domain => $shop->{domain}, secret => $secret);
ok(wait_until(sub { (deliver_http($lport2, $fbody, %fo)->{status} // '') eq '503' }, 20),
	'503 while the database does not exist');
$r = deliver_http($lport2, $fbody, %fo);
ok($r->{headers}{'retry-after'}, 'with Retry-After');
$fresh->safe_psql('postgres', 'CREATE DATABASE app');
ok(wait_until(sub { ShopifySyncNode::_bg_pid($fresh, 'shopify_sync webhook listener') > 0 }, 20),
	'the listener connects once the database exists');
is(deliver_http($lport2, $fbody, %fo)->{status}, '503', '503 while the extension is not installed');
$fresh->safe_psql('app', 'CREATE EXTENSION shopify_sync');
connect_shop($fresh, $shop);
is(deliver_http($lport2, $fbody, %fo)->{status}, '200', '200 once it is');
$fresh->stop;

# ---- slow clients: a slowloris and an idle keep-alive connection are closed
my $slow = delivery_request('{"id": 5}', topic => 'a/b', domain => $shop->{domain}, secret => $secret);
my @drip = map { substr($slow, $_, 1) } 0 .. 15;
$r = raw_request($lport, undef, pieces => \@drip, delay => 0.4, timeout => 10);
ok($r->{closed} && !defined $r->{status} && $r->{seconds} < 4.5,
	sprintf('a client sending a byte every 0.4 s is cut off after %.1f s (timeout 2 s)', $r->{seconds}));
$r = raw_request($lport, substr($slow, 0, 40), timeout => 10);
ok($r->{closed} && $r->{seconds} < 3.5, sprintf('a request left unfinished: closed after %.1f s', $r->{seconds}));
$r = raw_request($lport, delivery_request('{"id": 6}', topic => 'a/b', domain => $shop->{domain}, secret => $secret, keep_alive => 1),
	timeout => 10, read_to_close => 1);
ok($r->{status} && $r->{closed} && $r->{seconds} < 3.5 && $r->{seconds} > 1.5,
	sprintf('an idle keep-alive connection: answered, then closed after %.1f s', $r->{seconds}));

# ---- connections beyond shopify_sync.webhook_listen_max_connections (1,000)
# 1,500 idle connections at once (Python: this process has 1,024 descriptors)
my $good_after;
{
	my $py = <<'PY';
import resource, socket, sys, time, select
port, n = int(sys.argv[1]), int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 100), hard))
socks = []
for i in range(n):
    s = socket.socket(); s.settimeout(5)
    try:
        s.connect(("127.0.0.1", port)); socks.append(s)
    except OSError:
        pass
time.sleep(0.8)
closed = 0
for s in socks:
    p = select.poll(); p.register(s, select.POLLIN)
    if p.poll(0):
        try:
            a = s.recv(100)
            if a == b"" or a.startswith(b"HTTP/1.1 503"):
                closed += 1
        except OSError:
            closed += 1
# a delivery now, while the others hold their places
t = socket.socket(); t.settimeout(3)
refused = 0
try:
    t.connect(("127.0.0.1", port)); t.sendall(sys.stdin.buffer.read())
    a = t.recv(100)
    refused = 1 if a == b"" or a.startswith(b"HTTP/1.1 503") else 0
except OSError:
    refused = 1
t.close()
for s in socks:
    s.close()
print(len(socks), closed, refused)
PY
	my $req = delivery_request('{"id": 8}', topic => 'a/b', domain => $shop->{domain}, secret => $secret);
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'python3', '-c', $py, $lport, 1500 ], '<', \$req, '>', \$out, '2>', \$err);
	my ($opened, $closed, $refused) = split ' ', $out;
	note("1,500 connections: $opened opened, $closed closed by the server; err: $err");
	ok(defined $closed && $closed >= 400 && $closed <= 560,
		"connections beyond the limit are answered 503 and closed at once ($closed of " . ($opened // '?') . ')');
	ok($refused, 'a delivery is refused (503) while the limit is reached');
	ok(wait_until(sub { (send_one('{"id": 9}', topic => 'a/b')->{status} // '') eq '200' }, 10),
		'once they close, a good delivery gets through');
}

# ---- hostile requests over the raw socket
$n0 = events();
my @hostile = (
	[ 'oversized header', "POST /shopify/webhooks HTTP/1.1\r\nHost: x\r\nX-Big: " . ('b' x 40000) . "\r\nContent-Length: 2\r\n\r\n{}", qr/^4\d\d$/ ],
	[ 'many headers', "POST /shopify/webhooks HTTP/1.1\r\nHost: x\r\n" . join('', map { "X-H$_: v\r\n" } 1 .. 3000) . "Content-Length: 2\r\n\r\n{}", qr/^4\d\d$/ ],
	[ 'a garbage request line (not HTTP: closed)', "\x00\x01GARBAGE \xff\r\n\r\n", qr/^(4\d\d|closed)$/ ],
	[ 'HTTP/1.1 without Host', "POST /shopify/webhooks HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", qr/^400$/ ],
	[ 'an unknown HTTP version', "POST /shopify/webhooks HTTP/3.7\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", qr/^(400|505)$/ ],
	[ 'a bad chunk size', "POST /shopify/webhooks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", qr/^400$/ ],
	[ 'a NUL in a header', "POST /shopify/webhooks HTTP/1.1\r\nHost: x\r\nX-Shopify-Topic: a\0b\r\nX-Shopify-Shop-Domain: d\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}", qr/^400$/ ],
	[ 'a negative Content-Length', "POST /shopify/webhooks HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{}", qr/^4\d\d$/ ],
	[ 'two Content-Lengths', "POST /shopify/webhooks HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}x", qr/^4\d\d$/ ],
	[ 'a path with ..', "POST /shopify/../shopify/webhooks HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}", qr/^(400|404)$/ ],
);
for my $h (@hostile)
{
	$r = raw_request($lport, $h->[1], timeout => 5);
	like($r->{status} // ($r->{closed} ? 'closed' : 'none'), $h->[2], "$h->[0]: " . ($r->{status} // 'closed without an answer'));
}
# a truncated body: the client gives up; nothing is stored, nothing answered
$r = raw_request($lport, substr(delivery_request('{"id": 10, "x": "yyyyyyyy"}', topic => 'a/b', domain => $shop->{domain}, secret => $secret), 0, -10),
	half_close => 1, timeout => 5);
ok(!defined $r->{status} && $r->{closed}, 'a truncated body: the connection is closed, nothing answered');
is(events(), $n0, 'no hostile request stored anything');

# ---- 10,000 random requests from a seeded generator
$node->safe_psql('app', "ALTER SYSTEM SET shopify_sync.webhook_rate_limit = 0");
$node->reload;
my $lpid = listener_pid();
my (%valid_ids, %answers, $unclean);
my @methods = (('POST') x 8, 'GET', 'PUT', 'HEAD', 'DELETE', 'P0ST', '');
my @paths = (('/shopify/webhooks') x 8, '/shopify/webhooks?x=1', '/', '/shopify/webhooks/', '/x' x 300, '/%00');
my @topics = (('fuzz/event') x 6, 'products/update', 'BAD', '', "a/\xc3\x28", 'a' x 70);
my @domains = (($shop->{domain}) x 6, $gone->{domain}, 'nobody.myshopify.com', '', "x\xff", 'http://evil/');
my $t0 = time;
my $n_fuzz = $ENV{LISTENER_FUZZ} // 10000;
for my $i (1 .. $n_fuzz)
{
	my $pick = sub { $_[ int(rand(@_)) ] };
	my $kind = int(rand(10));
	my $bodyf = $kind < 5 ? qq({"id": $i, "n": ) . int(rand(1e6)) . '}' :
	  $kind == 5 ? "\xff\xfe" . 'x' x int(rand(100)) :
	  $kind == 6 ? '{"id": ' . ('[' x int(rand(2000))) :
	  $kind == 7 ? join('', map { chr(int(rand(256))) } 1 .. int(rand(300))) :
	  $kind == 8 ? '' : '{"a": "' . ('z' x int(rand(20000))) . '"}';
	my $sigmode = int(rand(4));    # 0, 1: right; 2: wrong; 3: none
	my $id = "fz-$seed-$i";
	my %o = (method => $pick->(@methods), path => $pick->(@paths), topic => $pick->(@topics),
		domain => $pick->(@domains), webhook_id => (rand() < 0.9 ? $id : undef));
	delete $o{topic} if rand() < 0.05;
	delete $o{domain} if rand() < 0.05;
	$o{secret} = $secret if $sigmode < 2;
	$o{sig} = sign_body('not-the-secret', $bodyf) if $sigmode == 2;
	$o{chunked} = 1 if rand() < 0.15;
	my $req = delivery_request($bodyf, %o);
	# a body cut short, the client gone (a request cut inside its headers
	# waits for shopify_sync.webhook_listen_timeout: tested above)
	my $truncate = length($bodyf) > 0 && rand() < 0.03;
	$req = substr($req, 0, index($req, "\r\n\r\n") + 4 + int(rand(length $bodyf))) if $truncate;
	$r = raw_request($lport, $req, timeout => 5, half_close => $truncate);
	if (defined $r->{status})
	{
		$answers{ $r->{status} }++;
		$valid_ids{$id} = 1 if $sigmode < 2 && $r->{status} eq '200' && defined $o{webhook_id};
	}
	elsif (!$truncate && $o{method} ne '')
	{
		# (a request line without a method is not HTTP: closed unanswered)
		$unclean++;
		diag("no answer to request $i: " . substr($req, 0, 120)) if $unclean <= 3;
	}
}
my $fuzz_s = time - $t0;
note(sprintf('%d random requests in %.1f s; answers: %s', $n_fuzz, $fuzz_s,
	join(', ', map { "$_ x$answers{$_}" } sort keys %answers)));
is($unclean // 0, 0, 'every complete request got an HTTP status');
ok(!grep({ !/^(200|4\d\d|505)$/ } keys %answers), 'each of them 200, a 4xx or 505 (never 500 or 503)');
is(listener_pid(), $lpid, 'the listener did not restart');
my $stored = sq("SELECT string_agg(webhook_id, ',') FROM shopify.webhook_events WHERE webhook_id LIKE 'fz-$seed-%'");
my @stored = grep { length } split /,/, $stored;
is(scalar(grep { !$valid_ids{$_} } @stored), 0,
	'every stored random delivery carried a valid signature (' . scalar(@stored) . ' stored)');
is(scalar(@stored), scalar(keys %valid_ids), 'and each one answered 200 was stored');

# ---- through nginx with TLS, as Shopify delivers
my $ngdir = PostgreSQL::Test::Utils::tempdir();
my ($cert, $key) = make_cert($ngdir);
my $nport = PostgreSQL::Test::Cluster::get_free_port();
my $ngpid = start_nginx($ngdir, $nport, $lport, $cert, $key);
ok($ngpid, "nginx started (pid $ngpid) on 127.0.0.1:$nport");
my $p2 = $pids[7];
$standin->mutate($shop->{domain}, { ops => [ { op => 'update', product_id => $p2, title => 'Through nginx' } ] });
my $file = "$ngdir/body.json";
{ open(my $fh, '>:raw', $file) or die; print $fh product_body($p2); close $fh; }
my $fbody2 = do { local $/; open(my $fh, '<:raw', $file) or die; <$fh> };
sub curl_deliver
{
	my ($ca, @extra) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'curl', '-sS', '--cacert', $ca, '-o', '/dev/null', '-w', '%{http_code}', '-X', 'POST',
		"https://127.0.0.1:$nport/shopify/webhooks",
		'-H', 'Content-Type: application/json', '-H', 'X-Shopify-Topic: products/update',
		'-H', "X-Shopify-Shop-Domain: $shop->{domain}", '-H', 'X-Shopify-Api-Version: 2026-07',
		'-H', 'X-Shopify-Triggered-At: 2026-12-06T11:00:00Z', @extra, '--data-binary', "\@$file" ],
		'>', \$out, '2>', \$err);
	return ($out, $err);
}
my ($code, $cerr) = curl_deliver($cert, '-H', 'X-Shopify-Hmac-Sha256: ' . sign_body($secret, $fbody2),
	'-H', 'X-Shopify-Webhook-Id: lw-nginx-1');
is($code, '200', 'a delivery through nginx (TLS, curl --data-binary @file) is answered 200') or diag($cerr);
ok(wait_until(sub { sq("SELECT string_agg(DISTINCT title, ',') FROM shopify.products WHERE product_id = $p2") eq 'Through nginx' }, 10),
	'and reaches the mirror');
($code) = curl_deliver($cert, '-H', 'X-Shopify-Hmac-Sha256: ' . sign_body($secret, $fbody2),
	'-H', 'X-Shopify-Webhook-Id: lw-nginx-1');
is($code, '200', 'Shopify\'s retry of it: 200');
is(sq("SELECT count(*) FROM shopify.webhook_events WHERE webhook_id = 'lw-nginx-1'"), '1', 'stored once');
($code) = curl_deliver($cert, '-H', 'X-Shopify-Hmac-Sha256: Zm9yZ2VkIHNpZ25hdHVyZQ==', '-H', 'X-Shopify-Webhook-Id: lw-nginx-2');
is($code, '401', 'a forged one through nginx: 401');
($code, $cerr) = curl_deliver("$ngdir/other-cert.pem", '-H', 'X-Shopify-Hmac-Sha256: x');
isnt($code, '200', 'a client that does not trust the certificate does not get through') ;
stop_nginx($ngpid);
ok(!kill(0, $ngpid), 'nginx stopped by its pid');

# ---- the listener killed with kill -9: the postmaster restarts every
# process (a crash of any backend does); the sync worker's job resumes
$standin->set_bucket($shop->{domain}, { size => 10, leak => 4 });
$node->safe_psql('app', "ALTER SYSTEM SET shopify_sync.rest_page_size = 8");
$node->reload;
my $wpid = worker_pid($node);
$lpid = listener_pid();
my $job = enqueue_sync($node, $sid);
ok(wait_until(sub { sq("SELECT status FROM shopify.sync_jobs WHERE id = $job") eq 'running' }, 20), 'a sync is running');
my $log_offset = -s $node->logfile;
kill 'KILL', $lpid;
ok(wait_until(sub { my $p = listener_pid(); $p > 0 && $p != $lpid }, 60), 'after kill -9 a new listener runs');
ok(log_contains($node, qr/terminating any other active server processes|all server processes terminated/, $log_offset),
	'(the postmaster restarted all processes, as for any crash)');
ok(wait_until(sub { my $p = worker_pid($node); $p > 0 && $p != $wpid }, 60), 'the sync worker was restarted too');
is(send_one(product_body($pids[9]))->{status}, '200', 'deliveries are answered again');
is(wait_job($node, $job, 120)->{status}, 'completed', 'the interrupted sync resumed and completed');
my $diff = mirror_diff($node, $standin, $shop->{domain}, $sid);
is($diff->{missing} + $diff->{extra}, 0, 'the mirror is exact');
$node->safe_psql('app', "ALTER SYSTEM RESET shopify_sync.rest_page_size");
$node->reload;

# terminated (not a crash): only the listener restarts, after bgw_restart_time
$wpid = worker_pid($node);
$lpid = listener_pid();
$node->safe_psql('postgres', "SELECT pg_terminate_backend($lpid)");
ok(wait_until(sub { my $p = listener_pid(); $p > 0 && $p != $lpid }, 20), 'pg_terminate_backend: a new listener within bgw_restart_time (5 s)');
is(worker_pid($node), $wpid, 'the sync worker kept running');
is(send_one('{"id": 11}', topic => 'a/b')->{status}, '200', 'and deliveries are answered');

# ---- secrets: never in the server log or a log row
my $log = slurp_file($node->logfile);
unlike($log, qr/\Q$secret\E/, 'the webhook secret is not in the server log');
is(sq("SELECT count(*) FROM shopify.sync_log WHERE position('$secret' IN coalesce(message, '') || details::text) > 0"), '0',
	'nor in a log row');
unlike($log, qr/TRAP:|PANIC/, 'no assertion failure or panic');

$node->stop;
$standin->stop;
done_testing();
