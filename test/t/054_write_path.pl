# The write path (rowinsert.c puts new rows in the way COPY does, with the
# store's and the orders' foreign keys held by locks taken once) keeps what
# an INSERT statement guarantees: the users' triggers fire (row triggers,
# statement triggers with transition tables), the columns a user added get
# their defaults and sequences, a column whose type a user changed or a
# BEFORE ROW trigger sends the rows through the INSERT statement, and the
# statistics triggers of orders count every order and line.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ShopifySyncNode;
use ShopifyStandin;

my $shop = ShopifyStandin::make_shop(
	domain => 'write-path.myshopify.com', products => 300, variants_max => 4,
	bucket => undef, orders => { count => 400, seed => 3 });
my $standin = ShopifyStandin->start(config => { shops => [$shop] },
	dir => PostgreSQL::Test::Utils::tempdir());
my $node = new_sync_node('write', api => 'rest', base_url => $standin->base_url);
my $sid = connect_shop($node, $shop);

sub q1 { return $node->safe_psql('app', $_[0]); }

sub fresh_sync
{
	q1("DELETE FROM shopify.products WHERE shop_id = $sid");
	my $job = run_sync($node, $sid);
	is($job->{status}, 'completed', "$_[0]: the sync completed");
	my $diff = mirror_diff($node, $standin, $shop->{domain}, $sid);
	is($diff->{missing} + $diff->{extra}, 0, "$_[0]: every variant mirrored exactly");
	return $job;
}

# ---- a user's triggers and columns on shopify.products
q1(q{
CREATE TABLE public.audit (sku_id bigint, op text);
CREATE FUNCTION public.audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.audit VALUES (NEW.sku_id, TG_OP); RETURN NULL; END $$;
CREATE TRIGGER audit_ins AFTER INSERT ON shopify.products
  FOR EACH ROW EXECUTE FUNCTION public.audit_row();
CREATE TABLE public.batches (n bigint);
CREATE FUNCTION public.count_batch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.batches SELECT count(*) FROM new_rows; RETURN NULL; END $$;
CREATE TRIGGER count_ins AFTER INSERT ON shopify.products
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.count_batch();
ALTER TABLE shopify.products ADD COLUMN note text DEFAULT 'mirrored', ADD COLUMN serial_no bigserial;
});
my $job = fresh_sync('with triggers and added columns');
my $n = $job->{variants_created};
cmp_ok($n, '>', 300, "$n variants created");
is(q1("SELECT count(*) FROM public.audit WHERE op = 'INSERT'"), $n, 'a row trigger fired once per new row');
is(q1("SELECT sum(n) FROM public.batches"), $n, 'a statement trigger saw every new row in its transition table');
cmp_ok(q1("SELECT count(*) FROM public.batches"), '>=', 1, 'once per page written');
is(q1("SELECT count(*) FROM shopify.products WHERE shop_id = $sid AND note = 'mirrored'"), $n,
	'a column the user added gets its default');
is(q1("SELECT count(DISTINCT serial_no) FROM shopify.products WHERE shop_id = $sid"), $n,
	'a serial column gets its sequence');
is(q1("SELECT count(*) FROM shopify.products p WHERE NOT EXISTS (SELECT 1 FROM shopify.stores s WHERE s.shop_id = p.shop_id)"),
	0, 'every row references its store');

# ---- a column type a user changed: the INSERT statement converts
q1("ALTER TABLE shopify.products ALTER COLUMN position TYPE bigint");
q1("TRUNCATE public.audit, public.batches");
$job = fresh_sync('position altered to bigint');
is(q1("SELECT count(*) FROM public.audit"), $job->{variants_created}, 'the row trigger fired on that path too');
is(q1("SELECT pg_typeof(position)::text FROM shopify.products LIMIT 1"), 'bigint', 'the column kept the user\'s type');

# ---- a BEFORE ROW trigger: the executor's INSERT (the trigger may change the row)
q1(q{
CREATE FUNCTION public.tag_upper() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.note := 'before:' || NEW.sku_id; RETURN NEW; END $$;
CREATE TRIGGER tag_upper BEFORE INSERT ON shopify.products
  FOR EACH ROW EXECUTE FUNCTION public.tag_upper();
});
$job = fresh_sync('with a BEFORE ROW trigger');
is(q1("SELECT count(*) FROM shopify.products WHERE shop_id = $sid AND note = 'before:' || sku_id"),
	$job->{variants_created}, 'the BEFORE ROW trigger changed every new row');

q1(q{
DROP TRIGGER tag_upper ON shopify.products;
DROP TRIGGER audit_ins ON shopify.products;
DROP TRIGGER count_ins ON shopify.products;
ALTER TABLE shopify.products DROP COLUMN note, DROP COLUMN serial_no;
ALTER TABLE shopify.products ALTER COLUMN position TYPE integer;
});
fresh_sync('back to the extension\'s table');

# ---- a CHECK constraint through an SQL function: planned once, and planned
# again when the function changes (the worker keeps its plans between jobs)
q1(q{
CREATE FUNCTION public.sku_allowed(bigint) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT $1 > 0';
ALTER TABLE shopify.products ADD CONSTRAINT sku_allowed CHECK (public.sku_allowed(sku_id));
});
fresh_sync('with a CHECK constraint calling a function');
fresh_sync('the same constraint again (planned once)');
q1("CREATE OR REPLACE FUNCTION public.sku_allowed(bigint) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT \$1 < 0'");
q1("DELETE FROM shopify.products WHERE shop_id = $sid");
$job = run_sync($node, $sid);
isnt($job->{variants_created}, $n, 'after the function changed, the rows it now refuses are not written');
like($job->{error} // '', qr/sku_allowed/, 'the job names the constraint that refused them')
	or diag explain $job;
is(q1("SELECT count(*) FROM shopify.products WHERE shop_id = $sid AND NOT public.sku_allowed(sku_id)"), 0,
	'no stored row breaks the changed constraint');
q1("ALTER TABLE shopify.products DROP CONSTRAINT sku_allowed; DROP FUNCTION public.sku_allowed(bigint)");
fresh_sync('constraint dropped');

# ---- orders: the statistics triggers count what the rows say
my $oj = $node->safe_psql('app', "SELECT id FROM shopify_sync_orders($sid)");
$job = wait_job($node, $oj, 180);
is($job->{status}, 'completed', 'order sync completed');
is(q1("SELECT order_count || '/' || cancelled_count || '/' || revenue FROM shopify.order_totals WHERE shop_id = $sid"),
	q1("SELECT count(*) || '/' || count(*) FILTER (WHERE cancelled_at IS NOT NULL) || '/' ||"
	   . " coalesce(sum(coalesce(total_price, 0) - total_refunded) FILTER (WHERE cancelled_at IS NULL), 0)"
	   . " FROM shopify.orders WHERE shop_id = $sid"),
	'order_totals equals the orders');
is(q1("SELECT coalesce(sum(units), 0) FROM shopify.variant_sales WHERE shop_id = $sid"),
	q1("SELECT coalesce(sum(coalesce(quantity, 0)), 0) FROM shopify.order_lines"
	   . " WHERE shop_id = $sid AND sku_id IS NOT NULL AND NOT order_cancelled"),
	'variant_sales equals the lines of orders not cancelled');
is(q1("SELECT count(*) FROM shopify.order_lines l JOIN shopify.orders o USING (order_id)"
	  . " WHERE l.order_cancelled <> (o.cancelled_at IS NOT NULL)"), 0,
	'every line carries its order\'s cancellation');
is(q1("SELECT count(*) FROM shopify.order_lines l WHERE NOT EXISTS (SELECT 1 FROM shopify.orders o WHERE o.order_id = l.order_id)"),
	0, 'every line references its order');
my $exp = $standin->orders_expected($shop->{domain});
is($job->{variants_processed}, scalar(@{ $exp->{orders} }), 'every order processed');

# the same orders again, deleted first: the totals start from nothing and come back equal
my $before = q1("SELECT order_count || '/' || revenue FROM shopify.order_totals WHERE shop_id = $sid");
q1("DELETE FROM shopify.orders WHERE shop_id = $sid");
is(q1("SELECT order_count FROM shopify.order_totals WHERE shop_id = $sid"), 0, 'deleting the orders emptied the totals');
$oj = $node->safe_psql('app', "SELECT id FROM shopify_sync_orders($sid)");
$job = wait_job($node, $oj, 180);
is($job->{status}, 'completed', 'second order sync completed');
is(q1("SELECT order_count || '/' || revenue FROM shopify.order_totals WHERE shop_id = $sid"), $before,
	'the totals are the same after writing the orders again');

done_testing();
