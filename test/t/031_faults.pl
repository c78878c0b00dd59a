# Faults: every kind at 5 % still ends in an exact mirror; 5xx retried; 429
# waits without counting; persistent failures fail clearly while other
# stores go on; 401 marks the token invalid; timeouts and refused
# connections are classified.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ShopifySyncNode;
use ShopifyStandin;

my $a = ShopifyStandin::make_shop(domain => 'faulty.myshopify.com', products => 1200, bucket => undef);
my $b = ShopifyStandin::make_shop(domain => 'healthy.myshopify.com', products => 900, bucket => undef);
my $c = ShopifyStandin::make_shop(domain => 'broken.myshopify.com', products => 300, bucket => undef);
my $standin = ShopifyStandin->start(config => { shops => [ $a, $b, $c ] },
	dir => PostgreSQL::Test::Utils::tempdir());
my $node = new_sync_node('faults', api => 'rest', base_url => $standin->base_url, conf => <<'EOF');
shopify_sync.http_timeout = '2s'
shopify_sync.max_retries = 8
shopify_sync.rest_page_size = 20
EOF
my $sa = connect_shop($node, $a);
my $sb = connect_shop($node, $b);
my $sc = connect_shop($node, $c);
my $worker = worker_pid($node);

# ---- every kind of fault at 5 %
$standin->faults({ shop => $a->{domain}, rate => 0.05, seed => 3, hang_seconds => 4, slow_seconds => 1,
	kinds => [qw(500 502 503 504 reset truncated nonjson 429 slow hang)] });
my $job = run_sync($node, $sa, timeout => 300);
$standin->clear_faults;
is($job->{status}, 'completed', 'sync with 5 % faults completed') or diag explain $job;
my $diff = mirror_diff($node, $standin, $a->{domain}, $sa);
is($diff->{missing} + $diff->{extra}, 0, "mirror exact despite faults ($diff->{expected} variants)");
my $injected = 0;
$injected += $_ for values %{ $standin->shop_stats($a->{domain})->{faults_injected} // {} };
cmp_ok($injected, '>', 0, "$injected faults were injected");
cmp_ok($job->{api_retries} + $job->{rate_limited}, '>', 0,
	"the job retried ($job->{api_retries} retries, $job->{rate_limited} rate-limit waits)");
my $classes = $node->safe_psql('app',
	"SELECT string_agg(DISTINCT details->>'error_class', ',') FROM shopify.sync_log WHERE sync_job_id = $job->{id} AND event = 'shopify_api_call'");
note("error classes seen: $classes");
ok($classes ne '', 'failed attempts are logged with their error class');

$node->safe_psql('app', "ALTER SYSTEM SET shopify_sync.max_retries = 3");
$node->reload;

# ---- 503 three times: retried, counted as retries
$standin->faults({ shop => $b->{domain}, next => 3, kinds => ['503'] });
$job = run_sync($node, $sb);
is($job->{status}, 'completed', 'sync after three 503s completed');
is($job->{api_retries}, 3, 'three retries counted');
is($job->{rate_limited}, 0, 'no rate-limit waits');

# ---- 429 twice: waits Retry-After, not a failed attempt
$standin->faults({ shop => $b->{domain}, next => 2, kinds => ['429'] });
$job = run_sync($node, $sb);
is($job->{status}, 'completed', 'sync after two 429s completed');
is($job->{rate_limited}, 2, 'two rate-limit waits counted');
is($job->{api_retries}, 0, '429 is not a retry of a failed attempt');
cmp_ok($node->safe_psql('app', "SELECT extract(epoch FROM finished_at - started_at) FROM shopify.sync_jobs WHERE id = $job->{id}"),
	'>=', 3.5, 'the job waited Retry-After (2.0 s) twice');

# ---- a store that keeps failing fails clearly, and others go on meanwhile
$standin->faults({ shop => $c->{domain}, rate => 1.0, kinds => ['500'] });
my $jc = enqueue_sync($node, $sc);
my $jb = enqueue_sync($node, $sb);
my $rc = wait_job($node, $jc);
my $rb = wait_job($node, $jb);
$standin->clear_faults;
is($rc->{status}, 'failed', 'persistently failing store: job failed');
is($rc->{error_class}, 'http', 'error class http');
like($rc->{error}, qr/HTTP 500/, 'error names the status');
like($rc->{error}, qr/X-Request-Id [0-9a-f-]{8,}/, 'error carries X-Request-Id');
like($rc->{error}, qr/gave up after 4 attempts/, 'after max_retries (3) retries');
like($rc->{error}, qr/Shopify says: \{"errors"/, "error carries Shopify's error text");
is($rb->{status}, 'completed', 'the other store synced meanwhile');
is(worker_pid($node), $worker, 'the worker survived');
is($node->safe_psql('app', "SELECT last_sync_status || ': ' || left(last_error, 5) FROM shopify.stores WHERE shop_id = $sc"),
	'failed: http:', 'store shows the failure');
is($node->safe_psql('app', "SELECT count(*) FROM shopify.sync_seen WHERE job_id = $jc"), '0',
	'a failed job leaves no seen set behind');

# ---- 401: token marked invalid, no retries, reconnect fixes it
$standin->set_token($c->{domain}, 'shpat_rotated_by_the_merchant');
$standin->reset_stats;
$job = run_sync($node, $sc);
is($job->{status}, 'failed', 'revoked token: job failed');
is($job->{error_class}, 'auth', 'error class auth');
is($standin->shop_stats($c->{domain})->{requests} // 0, 1, '401 is not retried');
is($node->safe_psql('app', "SELECT token_status FROM shopify.stores WHERE shop_id = $sc"), 'invalid',
	'store token marked invalid');
is($node->safe_psql('app', "SELECT count(*) FROM shopify.sync_log WHERE shop_id = $sc AND details->>'operation' = 'token_marked_invalid'"),
	'1', 'token_marked_invalid logged as a store operation');
my ($ret, $out, $err) = $node->psql('app', "SELECT shopify_sync_products($sc)");
like($err, qr/Shopify rejected the access token/, 'new syncs refused until reconnected');
$c->{token} = 'shpat_rotated_by_the_merchant';
connect_shop($node, $c);
$job = run_sync($node, $sc);
is($job->{status}, 'completed', 'after reconnecting with the new token the sync works');

# ---- timeouts and refused connections are classified
$node->safe_psql('app', "ALTER SYSTEM SET shopify_sync.max_retries = 1");
$node->reload;
$standin->faults({ shop => $b->{domain}, next => 2, kinds => ['hang'], hang_seconds => 5 });
$job = run_sync($node, $sb);
is($job->{status}, 'failed', 'hanging server: job failed');
is($job->{error_class}, 'timeout', 'error class timeout');
like($job->{error}, qr/timed out/i, 'error says it timed out');
$standin->clear_faults;

$node->safe_psql('app', "ALTER SYSTEM SET shopify_sync.api_base_url = 'http://127.0.0.1:1'");
$node->reload;
$job = run_sync($node, $sb);
is($job->{status}, 'failed', 'refused connection: job failed');
is($job->{error_class}, 'connect', 'error class connect');
$node->safe_psql('app', "ALTER SYSTEM RESET shopify_sync.api_base_url");
$node->safe_psql('app', "ALTER SYSTEM RESET shopify_sync.max_retries");
$node->reload;
is(worker_pid($node), $worker, 'the worker is still the same process');
unlike(slurp_file($node->logfile), qr/TRAP:|terminated by signal/, 'no crash');

$node->stop;
$standin->stop;
done_testing();
