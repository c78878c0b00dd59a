# Upgrades and dumps: 0.1.0 filled with data and updated to 0.4.0 (through
# 0.2.0) loses nothing and ends with exactly the schema of a fresh 0.4.0;
# until the update, the 0.4.0 library leaves the older schema alone (its
# worker waits for ALTER EXTENSION UPDATE, and says so); pg_dump and
# pg_restore carry stores, mirrors, jobs, events and the log to another
# cluster, where tokens decrypt with the same key file, and where a cluster
# without that key fails clearly instead of syncing.
use strict;
use warnings;

use File::Copy;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ShopifySyncNode;
use ShopifyStandin;

my $a = ShopifyStandin::make_shop(domain => 'upgrade-a.myshopify.com', products => 150, bucket => undef,
	orders => { count => 120, seed => 2 });
$a->{graphql} = undef;
my $b = ShopifyStandin::make_shop(domain => 'upgrade-b.myshopify.com', products => 40, bucket => undef);
$b->{graphql} = undef;
my $standin = ShopifyStandin->start(config => { shops => [ $a, $b ] },
	dir => PostgreSQL::Test::Utils::tempdir());
my $conf = "shopify_sync.bulk_threshold = -1\n";

# ---- 0.1.0, filled (rows written as a 0.1.0 worker wrote them)
my $node = new_sync_node('upgrade', base_url => $standin->base_url, create_db => 0, conf => $conf);
$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql('app', "CREATE EXTENSION shopify_sync VERSION '0.1.0'");
is($node->safe_psql('app', "SELECT extversion FROM pg_extension WHERE extname = 'shopify_sync'"), '0.1.0',
	'0.1.0 installed');
my $sa = connect_shop($node, $a);
my $sb = connect_shop($node, $b);
$node->safe_psql('app', qq{
	INSERT INTO shopify.products (sku_id, shop_id, product_id, sku, title, variant_title, price, status,
	                              inventory_quantity, position, is_active, shopify_updated_at, product_updated_at)
	SELECT 7000 + g, $sa, 600 + g / 3, 'SKU-' || g, 'Product ' || g / 3, 'V' || g % 3, 10.50 + g, 'active',
	       g, 1 + g % 3, true, now() - g * interval '1 hour', now() - g * interval '1 hour'
	  FROM generate_series(1, 60) g;
	INSERT INTO shopify.products (sku_id, shop_id, product_id, title, price, is_active)
	SELECT 8000 + g, $sb, 900 + g, 'Other ' || g, 1, true FROM generate_series(1, 10) g;
	SET shopify_sync.webhook_secret = 'x';
	INSERT INTO shopify.webhook_events (shop_id, topic, webhook_id, payload, processed, processed_at, note)
	VALUES ($sa, 'products/update', 'upgrade-evt', '{"id": 1}', true, now(), 'kept')});
my $pending = $node->safe_psql('app', "SELECT id FROM shopify_sync_products($sa)");
is(sql_json($node, "SELECT shopify_disconnect($sb)")->{cleanup_results}{store_deactivated}, JSON::PP::true,
	'disconnect on 0.1.0');

# the library is 0.4.0: it does not write into the 0.1.0 schema, and says why
ok(wait_until(sub { log_contains($node, qr/extension shopify_sync is at version 0\.1\.0 .* but the library is 0\.4\.0; waiting/) }, 30),
	'the worker waits for ALTER EXTENSION UPDATE (logged with the versions)');
sleep 2;
is($node->safe_psql('app', "SELECT status FROM shopify.sync_jobs WHERE id = $pending"), 'pending',
	'a sync enqueued on 0.1.0 waits');

# A fingerprint of every table's rows, in the columns it had before the update.
my @tables = qw(stores products sync_jobs webhook_events sync_log);
my %cols = map {
	my $t = $_;
	($t => $node->safe_psql('app', "SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position)"
		  . " FROM information_schema.columns WHERE table_schema = 'shopify' AND table_name = '$t'"))
} @tables, qw(orders order_lines);
sub fingerprint_sql
{
	my (@t) = @_;
	return 'SELECT ' . join(" || ' ' || ", map {
		"'$_=' || (SELECT count(*) || ':' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '-')"
		  . " FROM (SELECT ROW($cols{$_}) AS x FROM shopify.$_) y)"
	} @t);
}
sub fingerprint
{
	my ($n, $db, @t) = @_;
	return $n->safe_psql($db // 'app', fingerprint_sql(@t));
}
my $before = fingerprint($node, 'app', @tables);

# ---- update (and the fingerprint in its transaction: the worker starts
# the waiting sync as soon as it commits)
my $after = $node->safe_psql('app', 'BEGIN; ALTER EXTENSION shopify_sync UPDATE; '
	  . fingerprint_sql(@tables) . '; COMMIT;');
is($node->safe_psql('app', "SELECT extversion FROM pg_extension WHERE extname = 'shopify_sync'"), '0.4.0',
	'updated to 0.4.0');
is($after, $before, 'every row of every table is unchanged by the update');
my $job = wait_job($node, $pending);
is($job->{status}, 'completed', 'the sync enqueued on 0.1.0 runs once the schema is updated') or diag explain $job;
$job = wait_job($node, $node->safe_psql('app', "SELECT id FROM shopify_sync_orders($sa)"));
is($job->{status}, 'completed', 'order sync after the update') or diag explain $job;
my $stats = sql_json($node, "SELECT shopify_store_stats($sa)");
is($stats->{order_count}, 120, 'stats count the orders after the update');
is(run_sync($node, $sa)->{status}, 'completed', 'the stored token still works after the update');
ok($node->safe_psql('app', 'SELECT count(*) FROM shopify.worker_status') >= 1, 'the views answer');
%cols = map {
	my $t = $_;
	($t => $node->safe_psql('app', "SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position)"
		  . " FROM information_schema.columns WHERE table_schema = 'shopify' AND table_name = '$t'"))
} @tables, qw(orders order_lines);

# ---- the updated schema is exactly a fresh 0.4.0 install
my $catalog = q{
WITH x AS (SELECT oid FROM pg_extension WHERE extname = 'shopify_sync'),
m AS (SELECT d.classid, d.objid FROM pg_depend d, x WHERE d.refobjid = x.oid AND d.deptype = 'e'),
objs AS (SELECT pg_describe_object(classid, objid, 0) AS d FROM m),
cols AS (SELECT format('%s.%s %s %s %s', c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
                       a.attnotnull, coalesce(pg_get_expr(ad.adbin, ad.adrelid), '') || a.attidentity::text) AS d
           FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
           LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
          WHERE c.relnamespace = 'shopify'::regnamespace),
cons AS (SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) AS d
           FROM pg_constraint WHERE connamespace = 'shopify'::regnamespace),
idx AS (SELECT pg_get_indexdef(indexrelid) AS d FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
         WHERE c.relnamespace = 'shopify'::regnamespace),
pol AS (SELECT format('%s %s %s %s', tablename, policyname, qual, roles) AS d FROM pg_policies WHERE schemaname = 'shopify'),
rels AS (SELECT format('%s %s %s %s %s', relname, relkind, relrowsecurity, relacl, obj_description(oid, 'pg_class')) AS d
           FROM pg_class WHERE relnamespace = 'shopify'::regnamespace),
colacl AS (SELECT format('%s.%s %s %s', c.relname, a.attname, a.attacl, col_description(c.oid, a.attnum)) AS d
             FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
            WHERE c.relnamespace = 'shopify'::regnamespace),
funcs AS (SELECT format('%s %s %s %s', p.oid::regprocedure, md5(pg_get_functiondef(p.oid)), p.proacl,
                        obj_description(p.oid, 'pg_proc')) AS d
            FROM m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid),
views AS (SELECT viewname || ' ' || md5(definition) AS d FROM pg_views WHERE schemaname = 'shopify'),
pcom AS (SELECT format('%s %s', polname, obj_description(oid, 'pg_policy')) AS d FROM pg_policy),
cfg AS (SELECT (SELECT array_agg(c::regclass::text ORDER BY c::regclass::text) FROM unnest(extconfig) c)::text AS d
          FROM pg_extension WHERE extname = 'shopify_sync')
SELECT string_agg(d, E'\n' ORDER BY d) FROM (
  SELECT d FROM objs UNION ALL SELECT d FROM cols UNION ALL SELECT d FROM cons UNION ALL
  SELECT d FROM idx UNION ALL SELECT d FROM pol UNION ALL SELECT d FROM rels UNION ALL
  SELECT d FROM colacl UNION ALL SELECT d FROM funcs UNION ALL SELECT d FROM views UNION ALL
  SELECT d FROM pcom UNION ALL SELECT d FROM cfg) all_of_it};
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION shopify_sync');
my $upgraded = $node->safe_psql('app', $catalog);
my $fresh = $node->safe_psql('fresh', $catalog);
my @u = split /\n/, $upgraded;
my %f = map { $_ => 1 } split /\n/, $fresh;
my %uu = map { $_ => 1 } @u;
my @only_upgraded = grep { !$f{$_} } @u;
my @only_fresh = grep { !$uu{$_} } split /\n/, $fresh;
is(scalar(@only_upgraded) + scalar(@only_fresh), 0,
	'the updated schema equals a fresh 0.4.0 (' . scalar(@u) . ' catalog facts compared)')
  or diag explain { only_upgraded => \@only_upgraded, only_fresh => \@only_fresh };

# ---- pg_dump / pg_restore into another cluster with the same key file
my @data = qw(stores products orders order_lines sync_jobs webhook_events sync_log);
my $dumped = fingerprint($node, 'app', @data);
my $dump = $node->basedir . '/app.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-d', $node->connstr('app'), '-f', $dump ], 'pg_dump of the database');
my $key = $node->data_dir . '/shopify_sync.key';
ok(-f $key, 'the key file is in the data directory');

my $copy = new_sync_node('restored', base_url => $standin->base_url, create_db => 0, conf => $conf);
$copy->stop;
copy($key, $copy->data_dir . '/shopify_sync.key') or die "copy key: $!";
chmod 0600, $copy->data_dir . '/shopify_sync.key';
# nothing runs while the data arrives: the worker waits for the extension
$copy->start;
$copy->safe_psql('postgres', 'CREATE DATABASE app');
$copy->command_ok([ 'pg_restore', '-d', $copy->connstr('app'), $dump ], 'pg_restore into a new cluster');
is(fingerprint($copy, 'app', @data), $dumped, 'stores, mirrors, jobs, events and the log arrived unchanged');
my $stats_sql = "SELECT shopify_store_stats($sa) - 'last_sync_at' - 'last_sync_status' - 'last_sync_job_id'";
is($copy->safe_psql('app', $stats_sql), $node->safe_psql('app', $stats_sql),
	'the statistics (order totals, revenue, top variants) were rebuilt identically by the restore');
is($copy->safe_psql('app', "SELECT shopify_store($sa)->>'token_key_matches'"), 'true',
	'the token was encrypted with this cluster\'s key');
is($copy->safe_psql('app', 'SELECT count(*) FROM shopify.stores WHERE access_token_encrypted IS NOT NULL'), '1',
	'tokens arrived encrypted (the disconnected store has none)');
ok(wait_for_worker($copy, 30), 'the restored cluster\'s worker runs');
my $rj = wait_job($copy, $copy->safe_psql('app', "SELECT id FROM shopify_sync_products($sa)"));
is($rj->{status}, 'completed', 'a sync in the restored cluster decrypts the token and completes') or diag explain $rj;
my $c = ShopifyStandin::make_shop(domain => 'upgrade-c.myshopify.com', products => 5, bucket => undef);
my $new_id = $copy->safe_psql('app', "SELECT shopify_connect_store('$c->{domain}', 'shpat_' || md5('c'))");
cmp_ok($new_id, '>', $sb, 'identity sequences continue after the restored ids');
cmp_ok($copy->safe_psql('app', 'SELECT max(id) FROM shopify.sync_jobs'), '>',
	$node->safe_psql('app', 'SELECT max(id) FROM shopify.sync_jobs'), 'job ids continue too');

# ---- a cluster without the key: the restore works, syncing fails clearly
my $keyless = new_sync_node('keyless', base_url => $standin->base_url, create_db => 0, conf => $conf);
$keyless->safe_psql('postgres', 'CREATE DATABASE app');
$keyless->command_ok([ 'pg_restore', '-d', $keyless->connstr('app'), $dump ], 'pg_restore into a cluster with another key');
is($keyless->safe_psql('app', "SELECT shopify_store($sa)->>'token_key_matches'"), 'false',
	'shopify_store tells that the token does not match this key');
ok(wait_for_worker($keyless, 30), 'its worker runs');
my $kj = wait_job($keyless, $keyless->safe_psql('app', "SELECT id FROM shopify_sync_products($sa)"), 60);
is($kj->{status}, 'failed', 'a sync without the key fails');
like($kj->{error}, qr/cannot be decrypted/, "with a clear error: $kj->{error}");
like($keyless->safe_psql('app', "SELECT string_agg(message, ' ') FROM shopify.sync_log WHERE sync_job_id = $kj->{id}"),
	qr/decrypt|key/i, 'logged');
unlike(slurp_file($keyless->logfile), qr/shpat_[0-9a-f]{8}/, 'no token in the server log');

$_->stop for ($keyless, $copy, $node);
$standin->stop;
done_testing();
