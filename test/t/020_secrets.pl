# Access tokens never appear in pg_stat_activity, the server log, the log
# table or error reports; the key file is private; a wrong key fails clearly.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ShopifySyncNode;

my $node = new_sync_node('secrets',
	conf => "log_min_error_statement = error\nlog_min_messages = debug1\n");
my $token = fake_token();
my $bad_token_call_token = fake_token();

# Session A connects a store and stays open; session B looks at it.  The
# token reaches session A's psql through its environment (\getenv), so that
# the SQL text this test prints (background psql notes every query) never
# holds it; psql puts it into the statement the server receives.
local $ENV{SHOPIFY_TEST_TOKEN} = $token;
my $a = $node->background_psql('app');
$a->query_safe('\getenv tok SHOPIFY_TEST_TOKEN');
$a->query_safe("SELECT shopify_connect_store('secret-shop.myshopify.com', :'tok', 'Secret')");
my $a_pid = $a->query_safe('SELECT pg_backend_pid()');
# pg_backend_pid() was the last statement; look at the connect while it was
# the running statement: run it again inside a transaction that stays open.
$a->query_safe('BEGIN');
$a->query_safe("SELECT shopify_connect_store('secret-shop.myshopify.com', :'tok')");
my $activity = $node->safe_psql('app', "SELECT query FROM pg_stat_activity WHERE pid = $a_pid");
unlike($activity, qr/\Q$token\E/, 'pg_stat_activity does not show the token');
like($activity, qr/arguments hidden by shopify_sync/, 'pg_stat_activity shows a redacted call');
$a->query_safe('COMMIT');

# An error in a call that carries a token: the STATEMENT line is redacted.
my ($ret, $out, $err) = $node->psql('app',
	"SELECT shopify_connect_store('bad domain.myshopify.com', '$bad_token_call_token')");
isnt($ret, 0, 'bad domain refused');
like($err, qr/invalid shop domain/, 'clear error');
unlike($err, qr/\Q$bad_token_call_token\E/, 'the error does not quote the token');
($ret, $out, $err) = $node->psql('app',
	"SELECT shopify_connect_store('ok-domain.myshopify.com', 'shpat_has space $bad_token_call_token')");
unlike($err, qr/\Q$bad_token_call_token\E/, 'a malformed token is not quoted either');
$a->quit;

my $log = slurp_file($node->logfile);
unlike($log, qr/\Q$token\E/, 'the server log never contains the token');
unlike($log, qr/\Q$bad_token_call_token\E/, 'nor the token of a refused call');
like($log, qr/STATEMENT:  SELECT shopify_connect_store\(\.\.\.\) -- arguments hidden/,
	'error reports carry the redacted statement');
like($log, qr/event=store_operation level=info shop_id=\d+ message="connect secret-shop.myshopify.com"/,
	'the connect is in the server log');

my $rows = $node->safe_psql('app', qq{
  SELECT count(*) FROM (
    SELECT s::text AS t FROM shopify.stores s
    UNION ALL SELECT l::text FROM shopify.sync_log l) x
  WHERE position('$token' IN t) > 0});
is($rows, '0', 'no table row contains the token');

# The key file: created on first use, mode 0600, 64 hex digits.
my $keyfile = $node->data_dir . '/shopify_sync.key';
ok(-f $keyfile, 'key file created in the data directory');
my $mode = (stat($keyfile))[2] & 07777;
is(sprintf('%04o', $mode), '0600', 'key file mode is 0600');
like(slurp_file($keyfile), qr/^[0-9a-f]{64}\n$/, 'key file holds a 256-bit key in hex');
unlike(slurp_file($keyfile), qr/\Q$token\E/, 'obviously');

# A key readable by others is refused.
chmod 0644, $keyfile;
$node->restart;
($ret, $out, $err) = $node->psql('app',
	"SELECT shopify_connect_store('other.myshopify.com', '$token')");
like($err, qr/has group or world access/, 'a world-readable key is refused');
chmod 0600, $keyfile;

# A different key: the stored token no longer matches, and says so.
my $key_before = slurp_file($keyfile);
is($node->safe_psql('app',
	"SELECT shopify_store(shop_id)->>'token_key_matches' FROM shopify.stores WHERE shop_domain = 'secret-shop.myshopify.com'"),
	'true', 'token encrypted with the current key');
$node->stop;
open my $fh, '>', $keyfile or die;
print $fh ('ab' x 32) . "\n";
close $fh;
$node->start;
is($node->safe_psql('app',
	"SELECT shopify_store(shop_id)->>'token_key_matches' FROM shopify.stores WHERE shop_domain = 'secret-shop.myshopify.com'"),
	'false', 'a changed key is detected');
$node->stop;
open $fh, '>', $keyfile or die;
print $fh $key_before;
close $fh;
$node->start;
is($node->safe_psql('app',
	"SELECT shopify_store(shop_id)->>'token_key_matches' FROM shopify.stores WHERE shop_domain = 'secret-shop.myshopify.com'"),
	'true', 'the original key matches again');

# A malformed key file is refused with a clear error.
$node->stop;
open $fh, '>', $keyfile or die;
print $fh "not a key\n";
close $fh;
$node->start;
($ret, $out, $err) = $node->psql('app',
	"SELECT shopify_connect_store('third.myshopify.com', '$token')");
like($err, qr/token key file .* is malformed/, 'a malformed key file is refused');
$node->stop;
open $fh, '>', $keyfile or die;
print $fh $key_before;
close $fh;

done_testing();
