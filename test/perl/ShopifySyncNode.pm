# ShopifySyncNode — helpers for TAP tests of shopify_sync: a cluster with
# the library preloaded, and waits on its background processes.
package ShopifySyncNode;

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use Exporter 'import';

our @EXPORT = qw(new_sync_node worker_pid launcher_pid wait_for_worker
  wait_for_worker_change wait_until log_contains psql_ok fake_token);

# A fresh node with shopify_sync preloaded.  %opts: database (worker's
# database, default 'app'), conf (extra postgresql.conf text), create_db
# (create the database and the extension, default 1), base_url.
sub new_sync_node
{
	my ($name, %opts) = @_;
	my $db = $opts{database} // 'app';
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	my $conf = <<"EOF";
shared_preload_libraries = 'shopify_sync'
shopify_sync.database_name = '$db'
max_worker_processes = 16
log_line_prefix = '%m [%p] %b '
shopify_sync.lease_time = 10s
EOF
	$conf .= "shopify_sync.api_base_url = '$opts{base_url}'\n" if $opts{base_url};
	$conf .= $opts{conf} if $opts{conf};
	$node->append_conf('postgresql.conf', $conf);
	$node->start;
	if ($opts{create_db} // 1)
	{
		$node->safe_psql('postgres', "CREATE DATABASE $db");
		$node->safe_psql($db, 'CREATE EXTENSION shopify_sync');
	}
	return $node;
}

sub worker_pid
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE backend_type = 'shopify_sync worker'");
}

sub launcher_pid
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE backend_type = 'shopify_sync launcher'");
}

# Poll a Perl condition every 100 ms until it holds or the timeout passes.
sub wait_until
{
	my ($cond, $timeout) = @_;
	$timeout //= 30;
	my $deadline = time + $timeout;
	while (time < $deadline)
	{
		return 1 if $cond->();
		usleep(100_000);
	}
	return $cond->() ? 1 : 0;
}

sub wait_for_worker
{
	my ($node, $timeout) = @_;
	return wait_until(sub { worker_pid($node) > 0 }, $timeout // 30);
}

# Wait for a worker whose pid differs from $old.
sub wait_for_worker_change
{
	my ($node, $old, $timeout) = @_;
	return wait_until(
		sub { my $p = worker_pid($node); $p > 0 && $p != $old },
		$timeout // 30);
}

sub log_contains
{
	my ($node, $pattern, $offset) = @_;
	my $log = slurp_file($node->logfile, $offset // 0);
	return $log =~ $pattern ? 1 : 0;
}

# A token-shaped string that is obviously fake and unique per test.
sub fake_token
{
	my ($tag) = @_;
	my $hex = join '', map { sprintf '%02x', int(rand(256)) } 1 .. 16;
	return "shpat_$hex";
}

1;
