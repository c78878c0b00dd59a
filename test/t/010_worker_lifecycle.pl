# The launcher and the worker: start, missing database and extension,
# SIGHUP, pg_terminate_backend, launcher restart, server restart, DROP
# DATABASE.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use ShopifySyncNode;

# The worker's database does not exist yet.
my $node = new_sync_node('lifecycle', create_db => 0);

ok(wait_until(sub { launcher_pid($node) > 0 }, 20), 'launcher is running');
my $launcher = launcher_pid($node);
ok(wait_until(sub { log_contains($node, qr/database "app" does not exist; waiting for it/) }, 10),
	'launcher reports the missing database');
sleep 3;
is(worker_pid($node), 0, 'no worker while the database is missing');
is(launcher_pid($node), $launcher, 'launcher stays up (no restart loop)');
my $log = slurp_file($node->logfile);
my $waits = () = $log =~ /does not exist; waiting for it/g;
is($waits, 1, 'the missing database is reported once, not on every poll');
unlike($log, qr/shopify_sync.*exited with exit code/, 'no background process exited');

# The database appears: the worker starts and waits for the extension.
$node->safe_psql('postgres', 'CREATE DATABASE app');
ok(wait_for_worker($node, 15), 'worker starts once the database exists');
my $worker = worker_pid($node);
is($node->safe_psql('postgres',
	"SELECT datname FROM pg_stat_activity WHERE pid = $worker"), 'app',
	'worker is connected to shopify_sync.database_name');
ok(wait_until(sub { log_contains($node, qr/extension shopify_sync is not installed in database "app"; waiting/) }, 10),
	'worker reports the missing extension');
sleep 3;
is(worker_pid($node), $worker, 'worker waits quietly without the extension');

$node->safe_psql('app', 'CREATE EXTENSION shopify_sync');
ok(wait_until(sub { log_contains($node, qr/extension found, serving database "app"/) }, 15),
	'worker notices the extension');

# SIGHUP: configuration reloaded, same process.
my $offset = -s $node->logfile;
$node->safe_psql('postgres', "ALTER SYSTEM SET shopify_sync.max_concurrent_syncs = 3");
$node->reload;
sleep 1;
is(worker_pid($node), $worker, 'worker survives SIGHUP');
is($node->safe_psql('app', 'SHOW shopify_sync.max_concurrent_syncs'), '3', 'setting reloaded');
ok(!log_contains($node, qr/(ERROR|FATAL).*shopify/, $offset), 'no error after the reload');

# pg_terminate_backend: the launcher starts a new worker.
$node->safe_psql('postgres', "SELECT pg_terminate_backend($worker)");
ok(wait_for_worker_change($node, $worker, 15), 'worker comes back after pg_terminate_backend');
$worker = worker_pid($node);
# asked to stop again and again (a DBA, a benchmark): each time a new worker
# at once, not the growing delay that protects against a crash loop
my @gaps;
for (1 .. 5)
{
	my $t0 = time;
	$node->safe_psql('postgres', "SELECT pg_terminate_backend($worker)");
	last unless wait_for_worker_change($node, $worker, 15);
	push @gaps, time - $t0;
	$worker = worker_pid($node);
}
is(scalar(@gaps), 5, 'five terminations in a row, five new workers');
cmp_ok((sort { $b <=> $a } @gaps)[0], '<', 3,
	sprintf('no back-off for requested stops (slowest restart %.1f s)', (sort { $b <=> $a } @gaps)[0] // -1));

# Terminating the launcher: the postmaster restarts it and it adopts the
# running worker instead of starting a second one.
$node->safe_psql('postgres', "SELECT pg_terminate_backend($launcher)");
ok(wait_until(sub { my $l = launcher_pid($node); $l > 0 && $l != $launcher }, 20),
	'launcher restarted');
sleep 2;
is(worker_pid($node), $worker, 'the running worker was adopted');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'shopify_sync worker'"), '1',
	'exactly one worker');

# A restart of the server brings both back.
$node->restart;
ok(wait_for_worker($node, 20), 'worker back after a server restart');
$worker = worker_pid($node);

# DROP EXTENSION while the worker runs: it waits again, and resumes on CREATE.
$node->safe_psql('app', 'DROP EXTENSION shopify_sync');
ok(wait_until(sub { log_contains($node, qr/extension shopify_sync is not installed in database "app"; waiting/, $offset) }, 15),
	'worker notices DROP EXTENSION');
is(worker_pid($node), $worker, 'worker stays up after DROP EXTENSION');
$node->safe_psql('app', 'CREATE EXTENSION shopify_sync');

# DROP DATABASE ... WITH (FORCE) terminates the worker; the launcher waits
# for the database to come back.
$offset = -s $node->logfile;
$node->safe_psql('postgres', 'DROP DATABASE app WITH (FORCE)');
ok(wait_until(sub { worker_pid($node) == 0 }, 15), 'worker gone with its database');
ok(wait_until(sub { log_contains($node, qr/database "app" does not exist; waiting for it/, $offset) }, 15),
	'launcher waits for the dropped database');
$node->safe_psql('postgres', 'CREATE DATABASE app');
ok(wait_for_worker($node, 20), 'worker returns when the database is created again');

$log = slurp_file($node->logfile);
unlike($log, qr/TRAP:|server process .* was terminated by signal|terminating any other active server processes/,
	'no crash, no assertion failure');

$node->stop;
done_testing();
