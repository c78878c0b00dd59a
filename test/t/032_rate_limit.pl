# Rate limiting: a sync runs at the bucket's full sustainable rate without
# provoking 429s; two stores have independent buckets; a bucket another
# client filled is waited out.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ShopifySyncNode;
use ShopifyStandin;

my $size = 40;
my $leak = 10.0;
my $a = ShopifyStandin::make_shop(domain => 'paced-a.myshopify.com', products => 1480,
	bucket => { size => $size, leak => $leak });
my $b = ShopifyStandin::make_shop(domain => 'paced-b.myshopify.com', products => 1480,
	bucket => { size => $size, leak => $leak });
my $standin = ShopifyStandin->start(config => { shops => [ $a, $b ] },
	dir => PostgreSQL::Test::Utils::tempdir());
my $node = new_sync_node('ratelimit', api => 'rest', base_url => $standin->base_url, conf => <<"EOF");
shopify_sync.rest_page_size = 10
shopify_sync.rest_leak_rate = $leak
EOF
my $sa = connect_shop($node, $a);
my $sb = connect_shop($node, $b);

sub secs
{
	my ($job) = @_;
	return $node->safe_psql('app',
		"SELECT extract(epoch FROM finished_at - started_at) FROM shopify.sync_jobs WHERE id = $job->{id}");
}

# ---- one store, 150 requests against a 40-request bucket leaking 10/s
$standin->reset_stats;
my $job = run_sync($node, $sa);
is($job->{status}, 'completed', 'paced sync completed');
my $st = $standin->shop_stats($a->{domain});
my $requests = $st->{requests};
my $ideal = ($requests - ($size - 1)) / $leak;	# burst the bucket, then drain rate
my $took = secs($job);
note(sprintf('%d requests in %.2f s; the bucket allows %.2f s at best', $requests, $took, $ideal));
cmp_ok($requests, '>=', 150, "$requests requests");
cmp_ok($st->{throttled_429}, '<=', 2, "at most a couple of 429s ($st->{throttled_429})");
cmp_ok($st->{max_bucket_used}, '<=', $size, "bucket never overflowed (max used $st->{max_bucket_used}/$size)");
cmp_ok($took, '<=', $ideal * 1.15 + 1.5, sprintf('not slower than the bucket allows (%.2f s vs %.2f s)', $took, $ideal));
cmp_ok($took, '>=', $ideal * 0.9, 'and not faster than the bucket (it was really paced)');
is($job->{rate_limited}, $st->{throttled_429}, 'job counts the 429s it met');
my $diff = mirror_diff($node, $standin, $a->{domain}, $sa);
is($diff->{missing} + $diff->{extra}, 0, 'mirror exact');

# rate-limit use is logged with every call
my $max_logged = $node->safe_psql('app',
	"SELECT max((details->>'rate_limit_used')::int) FROM shopify.sync_log WHERE sync_job_id = $job->{id} AND event = 'shopify_api_call'");
cmp_ok($max_logged, '>=', $size - 3, "log rows show the bucket filling up (max $max_logged)");

# ---- two stores at once: independent buckets, so no slower than one
$standin->reset_stats;
my $ja = enqueue_sync($node, $sa);
my $jb = enqueue_sync($node, $sb);
my $ra = wait_job($node, $ja);
my $rb = wait_job($node, $jb);
is($ra->{status} . $rb->{status}, 'completedcompleted', 'both paced syncs completed');
my $wall = $node->safe_psql('app',
	"SELECT extract(epoch FROM max(finished_at) - min(started_at)) FROM shopify.sync_jobs WHERE id IN ($ja, $jb)");
note(sprintf('two stores in %.2f s wall time; one took %.2f s', $wall, $took));
cmp_ok($wall, '<=', $took * 1.25 + 1, 'one store\'s waits do not delay the other');
my $s2 = $standin->stats->{shops};
cmp_ok($s2->{ $a->{domain} }{throttled_429} + $s2->{ $b->{domain} }{throttled_429}, '<=', 3,
	'still hardly any 429s');

# ---- a bucket another app filled: the first answer is a 429, waited out
$node->safe_psql('app', "ALTER SYSTEM SET shopify_sync.rest_page_size = 250");
$node->safe_psql('app', "ALTER SYSTEM SET shopify_sync.rest_leak_rate = 2");
$node->reload;
$standin->set_bucket($a->{domain}, { size => $size, leak => 2.0, used => $size });
$job = run_sync($node, $sa);
is($job->{status}, 'completed', 'sync against a full bucket completed');
cmp_ok($job->{rate_limited}, '>=', 1, 'it met the 429 and waited');
is($job->{api_retries}, 0, 'without counting it as a failed attempt');

$node->stop;
$standin->stop;
done_testing();
