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

use JSON::PP;
use POSIX ();
use HTTP::Tiny;

our @EXPORT = qw(new_sync_node worker_pid launcher_pid wait_for_worker
  wait_for_worker_change wait_until log_contains fake_token connect_shop
  enqueue_sync wait_job run_sync job_row mirror_diff mirror_diff_many orders_diff order_columns sql_json
  start_rss_sampler stop_rss_sampler);

# A fresh node with shopify_sync preloaded.  %opts: database (worker's
# database, default 'app'), conf (extra postgresql.conf text), create_db
# (create the database and the extension, default 1), base_url, api
# (shopify_sync.api: rest or graphql; the default is the extension's, graphql).
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
	$conf .= "shopify_sync.api = '$opts{api}'\n" if $opts{api};
	$conf .= $opts{conf} if $opts{conf};
	$node->append_conf('postgresql.conf', $conf);
	$node->start;
	if ($opts{create_db} // 1)
	{
		$node->safe_psql('postgres', "CREATE DATABASE $db");
		$node->safe_psql($db, 'CREATE EXTENSION shopify_sync');
		wait_for_worker($node, 30) or die "shopify_sync worker did not start";
	}
	return $node;
}

# Pid of a background process, 0 when absent or when the server does not
# accept connections (e.g. during crash recovery).
sub _bg_pid
{
	my ($node, $type) = @_;
	my ($ret, $out) = $node->psql('postgres',
		"SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE backend_type = '$type'");
	return ($ret == 0 && $out =~ /^\d+$/) ? $out : 0;
}

sub worker_pid { return _bg_pid($_[0], 'shopify_sync worker'); }
sub launcher_pid { return _bg_pid($_[0], 'shopify_sync launcher'); }

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

# Connect a stand-in shop (a hash from ShopifyStandin::make_shop); returns
# its shop_id.  The token travels in a psql variable, never in test output.
sub connect_shop
{
	my ($node, $shop, $db) = @_;
	$db //= 'app';
	return $node->safe_psql($db,
		"SELECT shopify_connect_store('$shop->{domain}', :'tok')",
		extra_params => [ '-v', "tok=$shop->{token}" ]);
}

# A query's single jsonb/json result, decoded.
sub sql_json
{
	my ($node, $sql, $db) = @_;
	my $out = $node->safe_psql($db // 'app', $sql);
	return $out eq '' ? undef : decode_json($out);
}

sub job_row
{
	my ($node, $job_id) = @_;
	return sql_json($node, "SELECT row_to_json(j) FROM shopify.sync_jobs j WHERE id = $job_id");
}

sub enqueue_sync
{
	my ($node, $shop_id, %o) = @_;
	my $full = ($o{full} // 1) ? 'true' : 'false';
	my $inv = ($o{inventory} // 1) ? 'true' : 'false';
	return $node->safe_psql('app', "SELECT id FROM shopify_sync_products($shop_id, $full, $inv)");
}

# Wait for a job to finish; returns its row (a hash).
sub wait_job
{
	my ($node, $job_id, $timeout) = @_;
	$timeout //= 180;
	$node->safe_psql('app', "SELECT status FROM shopify_wait_for_sync($job_id, '$timeout seconds')");
	return job_row($node, $job_id);
}

sub run_sync
{
	my ($node, $shop_id, %o) = @_;
	my $id = enqueue_sync($node, $shop_id, %o);
	return wait_job($node, $id, $o{timeout});
}

# Compare the store's active mirror rows with the stand-in's expected rows,
# field by field.  Returns a hash: expected, active, missing (expected rows
# absent or different), extra (active rows not expected), examples.
sub mirror_diff
{
	my ($node, $standin, $domain, $shop_id, $api) = @_;
	my $rows = $standin->expected($domain, $api // 'rest');
	my $file = $node->basedir . "/expected_$shop_id.json";
	open my $fh, '>:raw', $file or die "$file: $!";
	print $fh encode_json($rows);
	close $fh;
	chmod 0644, $file;
	my $cols = 'sku_id bigint, product_id bigint, sku text, title text, variant_title text,'
	  . ' vendor text, product_type text, handle text, status text, tags text, price numeric,'
	  . ' compare_at_price numeric, barcode text, inventory_quantity int, inventory_item_id bigint,'
	  . ' position int, variant_updated_at timestamptz, product_updated_at timestamptz';
	my $list = 'sku_id, product_id, sku, title, variant_title, vendor, product_type, handle,'
	  . ' status, tags, price, compare_at_price, barcode, inventory_quantity,'
	  . ' inventory_item_id, position';
	my $res = sql_json($node, qq{
	  WITH exp AS (SELECT * FROM jsonb_to_recordset(pg_read_file('$file')::jsonb) AS x($cols)),
	  act AS (SELECT * FROM shopify.products WHERE shop_id = $shop_id AND is_active),
	  missing AS (SELECT $list, variant_updated_at, product_updated_at FROM exp
	              EXCEPT SELECT $list, shopify_updated_at, product_updated_at FROM act),
	  extra AS (SELECT sku_id FROM act EXCEPT SELECT sku_id FROM exp)
	  SELECT json_build_object(
	    'expected', (SELECT count(*) FROM exp),
	    'active', (SELECT count(*) FROM act),
	    'missing', (SELECT count(*) FROM missing),
	    'extra', (SELECT count(*) FROM extra),
	    'examples', (SELECT json_agg(m) FROM (SELECT * FROM missing LIMIT 3) m))});
	return $res;
}

# mirror_diff for many stores in one query: $stores is a list of
# [domain, shop_id, api]; returns { shop_id => { expected, active, missing,
# extra } }.  The stand-in's expected rows go to files as it sends them (no
# decoding in Perl: JSON::PP takes seconds for a large catalog).
sub mirror_diff_many
{
	my ($node, $standin, $stores) = @_;
	my @files;
	for my $s (@$stores)
	{
		my ($domain, $shop_id, $api) = @$s;
		my $file = expected_file($node, $standin, $domain, 'expected?api=' . ($api // 'rest'),
			"expected_$shop_id.json");
		push @files, "($shop_id, '$file')";
	}
	my $cols = 'sku_id bigint, product_id bigint, sku text, title text, variant_title text,'
	  . ' vendor text, product_type text, handle text, status text, tags text, price numeric,'
	  . ' compare_at_price numeric, barcode text, inventory_quantity int, inventory_item_id bigint,'
	  . ' position int, variant_updated_at timestamptz, product_updated_at timestamptz';
	my $list = 'shop_id, sku_id, product_id, sku, title, variant_title, vendor, product_type, handle,'
	  . ' status, tags, price, compare_at_price, barcode, inventory_quantity,'
	  . ' inventory_item_id, position';
	my $ids = join(',', map { $_->[1] } @$stores);
	return sql_json($node, qq{
	  WITH f(shop_id, file) AS (VALUES } . join(', ', @files) . qq{),
	  exp AS MATERIALIZED (SELECT f.shop_id, x.* FROM f,
	          jsonb_to_recordset(pg_read_file(f.file)::jsonb->'rows') AS x($cols)),
	  act AS MATERIALIZED (SELECT * FROM shopify.products WHERE shop_id IN ($ids) AND is_active),
	  missing AS (SELECT $list, variant_updated_at, product_updated_at FROM exp
	              EXCEPT SELECT $list, shopify_updated_at, product_updated_at FROM act),
	  extra AS (SELECT shop_id, sku_id FROM act EXCEPT SELECT shop_id, sku_id FROM exp),
	  n AS (SELECT s AS shop_id,
	          (SELECT count(*) FROM exp WHERE exp.shop_id = s) AS expected,
	          (SELECT count(*) FROM act WHERE act.shop_id = s) AS active
	        FROM unnest(ARRAY[$ids]::bigint[]) s)
	  SELECT json_object_agg(n.shop_id, json_build_object('expected', n.expected, 'active', n.active,
	    'missing', (SELECT count(*) FROM missing WHERE missing.shop_id = n.shop_id),
	    'extra', (SELECT count(*) FROM extra WHERE extra.shop_id = n.shop_id)))
	  FROM n});
}

# GET /_control/shops/<domain>/<what> from the stand-in into the node's
# directory, readable by the server (pg_read_file); returns the file's path.
sub expected_file
{
	my ($node, $standin, $domain, $what, $name) = @_;
	(my $d = $domain) =~ s/([^A-Za-z0-9.\-_~])/sprintf('%%%02X', ord $1)/ge;
	my $res = HTTP::Tiny->new(timeout => 120)->get($standin->base_url . "/_control/shops/$d/$what");
	die "$what of $domain: $res->{status} $res->{reason}" unless $res->{success};
	my $file = $node->basedir . "/$name";
	open my $fh, '>:raw', $file or die "$file: $!";
	print $fh $res->{content};
	close $fh;
	chmod 0644, $file;
	return $file;
}

# The compared columns of shopify.orders and shopify.order_lines, as the
# stand-in's expected rows carry them: (order record type, order column
# list, line record type, line column list), with shop_id first if $with_shop.
sub order_columns
{
	my ($with_shop) = @_;
	my $ocols = 'order_id bigint, name text, created_at timestamptz, processed_at timestamptz,'
	  . ' updated_at timestamptz, cancelled_at timestamptz, financial_status text,'
	  . ' fulfillment_status text, currency text, total_price numeric, subtotal_price numeric,'
	  . ' total_tax numeric, total_discounts numeric, total_refunded numeric, line_item_count int';
	my $olist = 'order_id, name, created_at, processed_at, updated_at, cancelled_at, financial_status,'
	  . ' fulfillment_status, currency, total_price, subtotal_price, total_tax, total_discounts,'
	  . ' total_refunded, line_item_count';
	my $lcols = 'order_id bigint, line_id bigint, sku_id bigint, product_id bigint, quantity int, price numeric';
	my $llist = 'order_id, line_id, sku_id, product_id, quantity, price';
	return ($ocols, $olist, $lcols, $llist) unless $with_shop;
	return ("shop_id bigint, $ocols", "shop_id, $olist", "shop_id bigint, $lcols", "shop_id, $llist");
}

# The order mirror of one store against the stand-in's orders and lines:
# { orders, lines, mirrored_orders, mirrored_lines, missing_orders,
# extra_orders, missing_lines, extra_lines, examples... }.  $shop is the
# stand-in's shop hash (or its domain).  The expected rows go to a file as
# the stand-in sends them (no decoding in Perl).
sub orders_diff
{
	my ($node, $standin, $shop, $shop_id) = @_;
	my $domain = ref $shop ? $shop->{domain} : $shop;
	my $file = expected_file($node, $standin, $domain, 'orders_expected',
		"orders_expected_$shop_id.json");
	my ($ocols, $olist, $lcols, $llist) = order_columns(0);
	return sql_json($node, qq{
	  WITH doc AS (SELECT pg_read_file('$file')::jsonb AS d),
	  eo AS (SELECT x.* FROM doc, jsonb_to_recordset(d->'orders') AS x($ocols)),
	  el AS (SELECT x.* FROM doc, jsonb_to_recordset(d->'lines') AS x($lcols)),
	  ao AS (SELECT * FROM shopify.orders WHERE shop_id = $shop_id AND is_active),
	  al AS (SELECT * FROM shopify.order_lines WHERE shop_id = $shop_id),
	  om AS (SELECT $olist FROM eo EXCEPT SELECT $olist FROM ao),
	  ox AS (SELECT $olist FROM ao EXCEPT SELECT $olist FROM eo),
	  lm AS (SELECT $llist FROM el EXCEPT SELECT $llist FROM al),
	  lx AS (SELECT $llist FROM al EXCEPT SELECT $llist FROM el)
	  SELECT json_build_object(
	    'orders', (SELECT count(*) FROM eo), 'lines', (SELECT count(*) FROM el),
	    'mirrored_orders', (SELECT count(*) FROM ao), 'mirrored_lines', (SELECT count(*) FROM al),
	    'missing_orders', (SELECT count(*) FROM om), 'extra_orders', (SELECT count(*) FROM ox),
	    'missing_lines', (SELECT count(*) FROM lm), 'extra_lines', (SELECT count(*) FROM lx),
	    'examples', (SELECT json_agg(m) FROM (SELECT * FROM om LIMIT 2) m),
	    'mirror_examples', (SELECT json_agg(m) FROM (SELECT * FROM ox LIMIT 2) m),
	    'line_examples', (SELECT json_agg(m) FROM (SELECT * FROM lm LIMIT 2) m))});
}

# Sample a process's private memory (RssAnon, kB) every 10 ms in a child
# process, so that the test's own queries do not space the samples out and
# short peaks are seen.  The child writes "peak samples" to $file at each
# new peak and when stopped; it leaves with POSIX::_exit, so no END block of
# the test runs in it.
sub start_rss_sampler
{
	my ($pid, $file) = @_;
	unlink $file;
	my $child = fork();
	die "fork: $!" unless defined $child;
	return $child if $child;
	my ($peak, $n) = (0, 0);
	my $write = sub {
		open(my $out, '>', "$file.tmp") or POSIX::_exit(1);
		print $out "$peak $n\n";
		close $out;
		rename "$file.tmp", $file;
	};
	local $SIG{TERM} = sub { $write->(); POSIX::_exit(0) };
	while (1)
	{
		my $fh;
		unless (open($fh, '<', "/proc/$pid/status")) { $write->(); POSIX::_exit(0) }
		while (<$fh>)
		{
			next unless /^RssAnon:\s+(\d+)/;
			$n++;
			if ($1 > $peak) { $peak = $1; $write->(); }
			last;
		}
		close $fh;
		usleep(10_000);
	}
}

# Stop a sampler; returns (peak kB, samples).
sub stop_rss_sampler
{
	my ($child, $file) = @_;
	usleep(50_000);
	kill 'TERM', $child;
	waitpid($child, 0);
	open(my $fh, '<', $file) or return (0, 0);
	my ($peak, $n) = split ' ', scalar <$fh>;
	close $fh;
	return ($peak, $n);
}

1;
