# Every GraphQL document the extension can send is valid against Shopify's
# published Admin schema (npm @shopify/dev-mcp, dist/data/admin_<version>,
# checked with graphql-js by test/graphql/validate_documents.mjs): each
# query, with each page size the settings allow, for each supported API
# version, and the inner query of every bulk operation.  No document uses a
# deprecated field; each costs at most 1,000 points by Shopify's rules,
# computed there from the schema's types, and exactly what the extension
# computes itself (src/shopify/gql_doc.c) to size its pages.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use ShopifySyncNode;

my $graphql_dir = "$ENV{SHOPIFY_FIXTURES}/../graphql";
$graphql_dir = 'test/graphql' unless -d $graphql_dir;
my @versions = map { /admin_(.+)\.json\.gz$/ ? $1 : () } glob("$graphql_dir/schema/admin_*.json.gz");
ok(scalar(@versions) >= 5, 'the published schemas are installed (' . join(', ', sort @versions) . ')')
  or BAIL_OUT('run scripts/install-node-deps.sh');

my $node = new_sync_node('schema');
my $json = JSON::PP->new->canonical;

# the page-size settings, from the smallest to the largest each allows
my @sizes = ([1, 1, 1], [40, 10, 5], [250, 10, 5], [250, 250, 250], [7, 100, 33]);
my ($docs, $invalid, $dear, $mismatch, $deprecated) = (0, 0, 0, 0, 0);
my %names;
for my $sz (@sizes)
{
	my ($page, $variants, $lines) = @$sz;
	# reload settings (sighup): what the worker would run with
	$node->safe_psql('app', "ALTER SYSTEM SET shopify_sync.graphql_page_size = $page");
	$node->safe_psql('app', "ALTER SYSTEM SET shopify_sync.graphql_variants_per_product = $variants");
	$node->safe_psql('app', "ALTER SYSTEM SET shopify_sync.graphql_lines_per_order = $lines");
	$node->reload;
	sleep 1;
	for my $v (sort @versions)
	{
		my $out = $node->safe_psql('app', qq{
			SET shopify_sync.api_version = '$v';
			SELECT json_build_object('name', name, 'api_version', api_version, 'query', query,
			                         'variables', variables, 'bulk', bulk, 'ours', cost)
			  FROM shopify._graphql_documents()});
		my $input = $node->basedir . '/documents.jsonl';
		open(my $fh, '>', $input) or die $!;
		print $fh "$out\n";
		close $fh;
		my @ours = map { $json->decode($_) } split /\n/, $out;
		my $res = `node $graphql_dir/validate_documents.mjs --schema-dir $graphql_dir/schema < $input`;
		die "validate_documents.mjs failed: $?" if $?;
		my @res = map { $json->decode($_) } split /\n/, $res;
		is(scalar(@res), scalar(@ours), "$v, sizes @$sz: every document checked") or next;
		for my $i (0 .. $#res)
		{
			my ($r, $d) = ($res[$i], $ours[$i]);
			$docs++;
			$names{ $d->{name} } = 1;
			if (!$r->{valid})
			{
				$invalid++;
				diag("$v @$sz $d->{name}: " . $json->encode($r->{errors}));
			}
			$deprecated += scalar(@{ $r->{deprecated} });
			next if $d->{bulk};
			if ($r->{cost} > 1000)
			{
				$dear++;
				diag("$v @$sz $d->{name}: costs $r->{cost}");
			}
			if ($r->{cost} != $d->{ours})
			{
				$mismatch++;
				diag("$v @$sz $d->{name}: the schema says $r->{cost}, the extension $d->{ours}");
			}
		}
	}
}
cmp_ok($docs, '>=', 15 * scalar(@versions) * scalar(@sizes), "$docs documents checked");
is($invalid, 0, 'all valid against the schema of their version');
is($deprecated, 0, 'none uses a deprecated field, argument or value');
is($dear, 0, 'none costs more than 1,000 points');
is($mismatch, 0, "the extension's own cost of each equals the schema's");
ok($names{$_}, "$_ is among them") for qw(ShopifySyncShop ShopifySyncCount ShopifySyncProducts
  ShopifySyncProductVariants ShopifySyncOrdersCount ShopifySyncOrders ShopifySyncOrderLines
  ShopifySyncBulkStart ShopifySyncBulkStatus bulk:products bulk:orders bulk:orders:incremental);

# counts ask for the exact figure (the schema's default limit is 10,000)
like($node->safe_psql('app', "SELECT query FROM shopify._graphql_documents() WHERE name = 'ShopifySyncCount'"),
	qr/limit: null/, 'productsCount asks with limit: null');

$node->stop;
done_testing();
