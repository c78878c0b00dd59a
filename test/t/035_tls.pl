# TLS: certificates are verified (peer and host name), shopify_sync.ca_file
# is honoured, and a verification failure fails the job at once as "tls".
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ShopifySyncNode;
use ShopifyStandin;

my $dir = PostgreSQL::Test::Utils::tempdir();
sub make_cert
{
	my ($name, $san) = @_;
	system('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
		'-keyout', "$dir/$name.key", '-out', "$dir/$name.crt", '-subj', "/CN=$name",
		'-addext', "subjectAltName=$san") == 0
	  or BAIL_OUT("openssl could not make a test certificate");
	chmod 0644, "$dir/$name.crt";
}
make_cert('good', 'IP:127.0.0.1');
make_cert('wrongname', 'DNS:elsewhere.example');

my $shop = ShopifyStandin::make_shop(domain => 'tls-shop.myshopify.com', products => 300, bucket => undef);
# The same catalog twice: over plain HTTP (for the control API) and over TLS.
my $plain = ShopifyStandin->start(config => { shops => [$shop] }, dir => "$dir/plain");
my $tls = ShopifyStandin->start(config => { shops => [$shop] }, dir => "$dir/tls",
	tls_cert => "$dir/good.crt", tls_key => "$dir/good.key");
my $bad = ShopifyStandin->start(config => { shops => [$shop] }, dir => "$dir/bad",
	tls_cert => "$dir/wrongname.crt", tls_key => "$dir/wrongname.key");

my $node = new_sync_node('tls', api => 'rest', base_url => 'https://127.0.0.1:' . $tls->port,
	conf => "shopify_sync.max_retries = 2\n");
my $sid = connect_shop($node, $shop);

# An unknown issuer: refused, not retried.
my $job = run_sync($node, $sid);
is($job->{status}, 'failed', 'self-signed certificate without ca_file: job failed');
is($job->{error_class}, 'tls', 'error class tls');
like($job->{error}, qr/certificate/i, 'the error says what is wrong with the certificate');
is($job->{api_calls}, 1, 'a verification failure is not retried');

# The CA file makes it trusted.
$node->safe_psql('app', "ALTER SYSTEM SET shopify_sync.ca_file = '$dir/good.crt'");
$node->reload;
$job = run_sync($node, $sid);
is($job->{status}, 'completed', 'with shopify_sync.ca_file the sync completes over TLS');
my $diff = mirror_diff($node, $plain, $shop->{domain}, $sid);
is($diff->{missing} + $diff->{extra}, 0, "mirror exact over TLS ($diff->{expected} variants)");

# A trusted certificate for another host name is still refused.
$node->safe_psql('app', "ALTER SYSTEM SET shopify_sync.ca_file = '$dir/wrongname.crt'");
$node->safe_psql('app', "ALTER SYSTEM SET shopify_sync.api_base_url = 'https://127.0.0.1:" . $bad->port . "'");
$node->reload;
$job = run_sync($node, $sid);
is($job->{status}, 'failed', 'certificate for another host name: job failed');
is($job->{error_class}, 'tls', 'error class tls (host name verification)');

$node->stop;
$_->stop for ($plain, $tls, $bad);
done_testing();
