# Tests of the stand-in's rest of the store (issue 14): locations, inventory
# levels, collections, metafields and customers.  Every document the extension
# sends (test/standin/extension_documents_*.jsonl) is answered and priced as the
# oracle prices it; paging every root and nested connection (with the follow-ups
# by id) reaches exactly the rows of store_expected; incremental filters; bulk
# exports; store_mutate changes the answers and returns Shopify's webhooks; the
# inventoryQuantity invariant; REST.  No PostgreSQL needed.
#   prove -I test/perl test/t/002_standin_store.pl
use strict;
use warnings;

use Test::More;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use JSON::PP;
use List::Util qw(sum0 max first);
use Time::Local qw(timegm);
use Time::HiRes qw(time sleep);

use ShopifyStandin;

my $T0   = time();
# Cpanel::JSON::XS when it is there: these answers are megabytes, JSON::PP reads 1 MB/s
my $JSON = eval { require Cpanel::JSON::XS; Cpanel::JSON::XS->new->utf8->canonical }
  // JSON::PP->new->utf8->canonical;
my $dir  = $ENV{TESTDIR} ? "$ENV{TESTDIR}/standin_store"
  : tempdir('standin-store-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $D    = 'store.myshopify.com';
my $P    = 'plain.myshopify.com';
my $EXAMPLE_CURSOR = 'eyJ0IjoiZXhhbXBsZSJ9';

my $shop = ShopifyStandin::make_shop(domain => $D, products => 500, variants_min => 1,
	variants_max => 5, big_products => [300], seed => 7, bucket => undef, graphql => undef,
	orders      => { count => 300, seed => 2, days => 400 },
	locations   => { count => 10, inactive => 1, seed => 1 },
	inventory   => { locations_per_item => [1, 10], seed => 1 },
	collections => { count => 40, smart => 0.3, products_max => 200, seed => 1 },
	metafields  => { per_product => [0, 4], per_variant => [0, 2], per_order => [0, 2],
		per_customer => [0, 2], shop => 12, seed => 1 },
	customers   => { count => 300, seed => 1 });
my $plain = ShopifyStandin::make_shop(domain => $P, products => 5, bucket => undef, graphql => undef);

my $t_start = time();
my $s = ShopifyStandin->start(config => { shops => [$shop, $plain] }, dir => $dir, max_lifetime => 600);
ok($s->port > 0, sprintf('stand-in started (%.1f s)', time() - $t_start));
my $info = $s->store_info($D);
note($JSON->encode($info));

# -- helpers ------------------------------------------------------------------------------
sub gql {
	my ($q, $v, $version, $domain) = @_;
	my $tok = ($domain // $D) eq $P ? $plain->{token} : $shop->{token};
	my $res = $s->api($tok, POST => '/admin/api/' . ($version // '2026-07') . '/graphql.json',
		headers => { 'Content-Type' => 'application/json' },
		content => $JSON->encode({ query => $q, variables => $v // {} }));
	my $d = eval { $JSON->decode($res->{content}) };
	die "GraphQL: $res->{status} $res->{content}" unless $d;
	return $d;
}
# the control API's big answers, read fast (store_expected and expected as the wrappers give them)
sub control_get {
	my ($path) = @_;
	my $res = $s->{http}->get($s->base_url . $path);
	die "GET $path: $res->{status} $res->{content}" unless $res->{success};
	return $JSON->decode($res->{content});
}
sub store_rows {
	my ($domain, $table, %o) = @_;
	return control_get("/_control/shops/$domain/store_expected?table=$table"
		. join('', map { "&$_=$o{$_}" } sort keys %o))->{rows};
}
sub catalog_rows { return control_get("/_control/shops/$D/expected?api=graphql")->{rows} }
# store_mutate as $s->store_mutate does it (dies unless 2xx), its (big) answer read fast
sub mutate {
	my ($ops) = @_;
	my $res = $s->{http}->request('POST', $s->base_url . "/_control/shops/$D/store_mutate",
		{ content => $JSON->encode({ ops => $ops }), headers => { 'Content-Type' => 'application/json' } });
	die "store_mutate: $res->{status} $res->{content}" unless $res->{success};
	return $JSON->decode($res->{content});
}
sub ok_data {
	my ($q, $v, $version, $what) = @_;
	$what //= substr($q, 0, 60);
	my $d = gql($q, $v, $version);
	die "$what: " . $JSON->encode($d->{errors}) if $d->{errors} || !$d->{data};
	return $d;
}
sub num { my ($gid) = @_; return ($gid =~ m{/(\d+)(?:\?|$)})[0] + 0 }
sub iso_epoch {
	my ($t) = @_;
	$t =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:Z|([+-])(\d\d):(\d\d))$/ or return undef;
	my $e = timegm($6, $5, $4, $3, $2 - 1, $1);
	$e -= ($7 eq '+' ? 1 : -1) * ($8 * 3600 + $9 * 60) if defined $7;
	return $e;
}
sub by {        # rows in a canonical order of the key columns
	my ($rows, @k) = @_;
	return [ map { $_->[1] } sort { $a->[0] cmp $b->[0] }
		map { my $r = $_; [ join("\0", map { sprintf('%020s', $r->{$_} // '') } @k), $r ] } @$rows ];
}
sub median_ts {
	my ($rows, $k) = @_;
	my @t = sort map { $_->{$k} } @$rows;
	return $t[int(@t / 2)];
}
sub bool { return $_[0] ? 1 : 0 }

# -- the documents --------------------------------------------------------------------------
my $DOCS = File::Spec->catdir(dirname(abs_path(__FILE__)), File::Spec->updir, 'standin');
my @docs;
for my $f (['extension_documents_2026-07.jsonl', '2026-07'],
	['extension_documents_collections_2026-04.jsonl', '2026-04']) {
	open(my $fh, '<', "$DOCS/$f->[0]") or die "$DOCS/$f->[0]: $!";
	for my $line (<$fh>) {
		next unless $line =~ /\S/;
		my $d = $JSON->decode($line);
		$d->{version} = $f->[1];
		$d->{bulk} = $d->{name} =~ /^bulk:/ ? 1 : 0;
		push @docs, $d;
	}
}
is(scalar(@docs), 47, '47 documents (41 of 2026-07, 6 of collections in 2026-04)');
my %DOC;        # "version name" -> the first (full sync) document, "... incremental" -> the other
for my $d (@docs) {
	my $k = "$d->{version} $d->{name}";
	$k .= ' incremental' if exists $DOC{$k};
	$DOC{$k} = $d;
}

# the oracle's verdict and cost of each document (test/graphql/validate_documents.mjs)
my %oracle;
{
	my $gdir = $ShopifyStandin::GRAPHQL_DIR
	  // File::Spec->catdir(dirname(abs_path($INC{'ShopifyStandin.pm'})), File::Spec->updir, 'graphql');
	my $in = "$dir/documents.jsonl";
	open(my $fh, '>', $in) or die "$in: $!";
	print $fh $JSON->encode({ name => $_, api_version => $docs[$_]{version}, query => $docs[$_]{query},
		variables => $docs[$_]{variables} // {}, bulk => $docs[$_]{bulk} ? JSON::PP::true : JSON::PP::false }), "\n"
	  for 0 .. $#docs;
	close $fh;
	%oracle = map { my $r = $JSON->decode($_); ($r->{name} => $r) } split /\n/, `node "$gdir/validate_documents.mjs" < "$in"`;
	is(scalar(grep { $oracle{$_}{valid} } keys %oracle), scalar(@docs), 'the oracle finds every document valid')
	  or diag(join("\n", map { "$docs[$_]{name}: " . $JSON->encode($oracle{$_}{errors}) } grep { !$oracle{$_}{valid} } keys %oracle));
}

# ids for the follow-ups: objects with children beyond a first page
my $locs   = $s->store_expected($D, 'locations');
my $levels = store_rows($D, 'inventory_levels');
my $colls  = store_rows($D, 'collections');
my $cprods = store_rows($D, 'collection_products');
my $mfs    = store_rows($D, 'metafields');
my $custs  = $s->store_expected($D, 'customers');
my %lv_per_loc; $lv_per_loc{ $_->{location_id} }++ for @$levels;
my %cp_per_coll; $cp_per_coll{ $_->{collection_id} }++ for @$cprods;
my %mf_per; $mf_per{"$_->{owner_type} $_->{owner_id}"}++ for @$mfs;
my $most = sub { my ($h, $pre) = @_; my ($k) = sort { $h->{$b} <=> $h->{$a} || $a cmp $b } grep { !defined $pre || /^$pre / } keys %$h; $k =~ s/^\S+ //; $k };
my %ID = (Location => $most->(\%lv_per_loc), Collection => $most->(\%cp_per_coll),
	Product => $most->(\%mf_per, 'product'), ProductVariant => $most->(\%mf_per, 'variant'),
	Order => $most->(\%mf_per, 'order'), Customer => $most->(\%mf_per, 'customer'));

note(sprintf('%.1f s', time() - $T0));
# -- every document answered, priced as the oracle prices it ------------------------------------
{
	my ($n_ok, $n_cost, $n_bad_cursor, @bad) = (0, 0, 0);
	for my $i (0 .. $#docs) {
		my $doc = $docs[$i];
		next if $doc->{bulk};
		my %v = %{ $doc->{variables} // {} };
		$v{id} =~ s{^(gid://shopify/(\w+)/)\d+$}{$1$ID{$2}} if defined $v{id};
		my $example = delete $v{after};
		my $d = gql($doc->{query}, \%v, $doc->{version});
		if ($d->{data} && !$d->{errors} && !grep { !defined $d->{data}{$_} } keys %{ $d->{data} }) {
			$n_ok++;
		} else {
			push @bad, "$doc->{version} $doc->{name}: " . substr($JSON->encode($d), 0, 300);
		}
		$n_cost++ if ($d->{extensions}{cost}{requestedQueryCost} // -1) == $oracle{$i}{cost};
		if (defined $example) {        # the file's cursor is not one the stand-in issued
			my $e = gql($doc->{query}, { %v, after => $example }, $doc->{version});
			$n_bad_cursor++ if ($e->{errors}[0]{extensions}{code} // '') eq 'BAD_REQUEST'
			  && $e->{errors}[0]{message} =~ /Invalid cursor/;
		}
	}
	my $n = grep { !$_->{bulk} } @docs;
	is($n_ok, $n, "every page document answered with data ($n)") or diag(join("\n", @bad));
	is($n_cost, $n, '... each priced as the oracle prices it (requestedQueryCost)');
	is($n_bad_cursor, scalar(grep { !$_->{bulk} && exists(($_->{variables} // {})->{after}) && defined $_->{variables}{after} } @docs),
		'... a cursor the stand-in did not issue: BAD_REQUEST "Invalid cursor"');
}

# -- walking a listing: root pages, nested pages, follow-ups by id --------------------------------
# Returns [[node, [children]]...]; $child: the nested connection's field; $more: the
# follow-up document (its single field $single) for a node whose children go on.
sub walk {
	my (%a) = @_;
	my ($doc, $root, $child, $more, $single) = @a{qw(doc root child more single)};
	my (@out, $after, $pages);
	while (1) {
		my $d = ok_data($doc->{query}, { %{ $a{vars} }, after => $after }, $doc->{version}, $doc->{name});
		$a{hook}->($d) if $a{hook};
		$pages++;
		my $conn = $d->{data}{$root};
		for my $node (@{ $conn->{nodes} }) {
			my @kids;
			if ($child) {
				push @kids, @{ $node->{$child}{nodes} };
				my $pi = $node->{$child}{pageInfo};
				while ($pi->{hasNextPage}) {
					my $m = ok_data($more->{query}, { id => $node->{id}, first => $a{more_first} // 250,
						after => $pi->{endCursor}, %{ $a{more_vars} // {} } }, $more->{version}, $more->{name});
					my $n = $m->{data}{$single};
					push @kids, @{ $n->{$child}{nodes} };
					$pi = $n->{$child}{pageInfo};
					$a{follow_ups}++;
				}
			}
			push @out, [ $node, \@kids ];
		}
		last unless $conn->{pageInfo}{hasNextPage};
		$after = $conn->{pageInfo}{endCursor};
		die "runaway paging of $doc->{name}" if $pages > 3000;
	}
	return (\@out, $pages, $a{follow_ups} // 0);
}

sub location_row {
	my ($n) = @_;
	my $a = $n->{address};
	return { location_id => num($n->{id}), name => $n->{name}, active => bool($n->{isActive}),
		fulfills_online_orders => bool($n->{fulfillsOnlineOrders}), (map { $_ => $a->{$_} } qw(address1 address2 city province zip)),
		province_code => $a->{provinceCode}, country => $a->{country}, country_code => $a->{countryCode},
		created_at => $n->{createdAt}, updated_at => $n->{updatedAt} };
}
sub norm_loc { my $r = { %{ $_[0] } }; $r->{$_} = bool($r->{$_}) for qw(active fulfills_online_orders); $r }
sub level_row {
	my ($loc, $n) = @_;
	my %q = map { $_->{name} => $_->{quantity} } @{ $n->{quantities} };
	return { inventory_item_id => num($n->{item}{id}), location_id => num($loc), updated_at => $n->{updatedAt},
		map { $_ => $q{$_} } qw(available on_hand committed incoming reserved) };
}
sub metafield_row {
	my ($type, $owner, $n) = @_;
	return { metafield_id => num($n->{id}), owner_type => $type, owner_id => num($owner),
		(map { $_ => $n->{$_} } qw(namespace key type value)), updated_at => $n->{updatedAt} };
}
sub strip { my ($rows, @k) = @_; return [ map { my %r = %$_; delete @r{@k}; \%r } @$rows ] }
sub customer_row {
	my ($n) = @_;
	return { customer_id => num($n->{id}), state => lc $n->{state}, created_at => $n->{createdAt},
		updated_at => $n->{updatedAt}, number_of_orders => $n->{numberOfOrders} + 0,
		amount_spent => $n->{amountSpent}{amount}, currency => $n->{amountSpent}{currencyCode},
		tags => join(', ', @{ $n->{tags} }) };
}

note(sprintf('%.1f s', time() - $T0));
# -- locations ----------------------------------------------------------------------------------------
{
	is(scalar(@$locs), 10, '10 locations in store_expected (one inactive)');
	is(scalar(grep { !$_->{active} } @$locs), 1, '... one of them inactive');
	ok((grep { $_->{name} =~ /[^\x00-\x7f]/ } @$locs) >= 3, '... names with unicode');
	my ($got, $pages) = walk(doc => $DOC{'2026-07 ShopifySyncLocations'}, root => 'locations', vars => { first => 3, query => undef });
	is($pages, 4, 'ShopifySyncLocations first: 3 -> 4 pages');
	is_deeply(by([ map { location_row($_->[0]) } @$got ], 'location_id'), by([ map { norm_loc($_) } @$locs ], 'location_id'),
		'... exactly the expected locations, inactive included (includeInactive: true)');
	my @names = map { $_->[0]{name} } @$got;
	is_deeply(\@names, [ sort @names ], '... sorted by name (sortKey NAME, Shopify\'s default)');

	my $d = ok_data('{ locations(first: 50) { nodes { id isActive } } }', {}, '2026-07', 'default locations');
	is(scalar(@{ $d->{data}{locations}{nodes} }), 9, 'without includeInactive: the 9 active ones');
	my $q = "updated_at:>='2026-01-01T00:00:00Z'";
	($got) = walk(doc => $DOC{'2026-07 ShopifySyncLocations incremental'}, root => 'locations', vars => { first => 250, query => $q },
		hook => sub { $d = $_[0] });
	is(scalar(@$got), 10, "query: \"$q\": Shopify's locations search has no updated_at: every location");
	is_deeply($d->{extensions}{search}, [{ path => ['locations'], query => $q,
		parsed => { field => 'updated_at', range_gte => '2026-01-01T00:00:00Z' },
		warnings => [{ field => 'updated_at', message => 'Invalid search field for this query.' }] }],
		'... said in extensions.search, as Shopify does');
	$d = ok_data($DOC{'2026-07 ShopifySyncLocationsCount'}{query}, { query => $q }, '2026-07', 'count');
	is_deeply($d->{data}{locationsCount}, { count => 10, precision => 'EXACT' }, 'ShopifySyncLocationsCount: 10 (the filter ignored as well)');
	$d = ok_data('query L($id: ID!) { location(id: $id) { id name } }', { id => "gid://shopify/Location/$locs->[0]{location_id}" });
	is($d->{data}{location}{name}, $locs->[0]{name}, 'location(id:)');
	$d = ok_data('query N($id: ID!) { node(id: $id) { ... on Location { name } } }', { id => "gid://shopify/Location/$locs->[1]{location_id}" });
	is($d->{data}{node}{name}, $locs->[1]{name}, 'node(id:) of a Location');
}

note(sprintf('%.1f s', time() - $T0));
# -- inventory levels -------------------------------------------------------------------------------
my $gql_rows = catalog_rows();
my %vrow = map { $_->{inventory_item_id} => $_ } @$gql_rows;
sub check_invariant {
	my ($what) = @_;
	my $lv = store_rows($D, 'inventory_levels');
	my $rows = catalog_rows();
	my %sum; $sum{ $_->{inventory_item_id} } += $_->{available} for @$lv;
	my @bad = grep { ($sum{ $_->{inventory_item_id} } // 0) != $_->{inventory_quantity} } @$rows;
	is(scalar(@bad), 0, "$what: every variant's inventory_quantity = the sum of available over its levels ("
		. scalar(@$rows) . ' variants, ' . scalar(@$lv) . ' levels)')
	  or diag($JSON->encode([ @bad[0 .. min(2, $#bad)] ]));
	my %items = map { $_->{inventory_item_id} => 1 } @$rows;
	is(scalar(grep { !$items{ $_->{inventory_item_id} } } @$lv), 0, "$what: no level of an item without a live variant");
}
sub min { $_[0] < $_[1] ? $_[0] : $_[1] }
{
	my %locs_with = map { $_->{location_id} => 1 } @$levels;
	ok(@$levels >= 2000, scalar(@$levels) . ' inventory levels (2,000+)');
	is(scalar(keys %locs_with), 9, '... over the 9 active locations (10 configured, one inactive)');
	ok((grep { $_->{available} < 0 } @$levels) && (grep { $_->{committed} > 0 } @$levels)
		&& !(grep { $_->{on_hand} < $_->{available} + $_->{committed} + $_->{reserved} } @$levels),
		'... awkward: oversold (negative available), committed units; on_hand >= available + committed + reserved');
	check_invariant('generated');

	my $doc = $DOC{'2026-07 ShopifySyncInventoryLevels'};
	my ($got, $pages, $more) = walk(doc => $doc, root => 'locations', child => 'inventoryLevels',
		more => $DOC{'2026-07 ShopifySyncLocationInventoryLevels'}, single => 'location',
		vars => { first => 1, levelsFirst => 250, query => undef }, more_vars => { query => undef });
	is($pages, 10, "ShopifySyncInventoryLevels: a page per location (10, includeInactive)");
	ok($more > 10, "... ShopifySyncLocationInventoryLevels follow-ups by id ($more)");
	my @rows = map { my $l = $_->[0]{id}; map { level_row($l, $_) } @{ $_->[1] } } @$got;
	is_deeply(by(\@rows, qw(inventory_item_id location_id)), by($levels, qw(inventory_item_id location_id)),
		'... exactly the expected levels (' . scalar(@rows) . '), quantities by name');
	my $d = ok_data('{ locations(first: 1) { nodes { inventoryLevels(first: 1) { nodes { quantities(names: ["incoming", "nonsense", "available", "damaged", "safety_stock", "quality_control"]) { name } location { id } } } } } }');
	is_deeply([ map { $_->{name} } @{ $d->{data}{locations}{nodes}[0]{inventoryLevels}{nodes}[0]{quantities} } ],
		[qw(incoming available damaged safety_stock quality_control)], 'quantities(names:): in the order asked, the names that exist');

	# incremental: the filter on the nested connection
	my $T = median_ts($levels, 'updated_at');
	my $q = "updated_at:>='$T'";
	($got) = walk(doc => $DOC{'2026-07 ShopifySyncInventoryLevels incremental'}, root => 'locations', child => 'inventoryLevels',
		more => $DOC{'2026-07 ShopifySyncLocationInventoryLevels'}, single => 'location',
		vars => { first => 1, levelsFirst => 250, query => $q }, more_vars => { query => $q });
	@rows = map { my $l = $_->[0]{id}; map { level_row($l, $_) } @{ $_->[1] } } @$got;
	is_deeply(by(\@rows, qw(inventory_item_id location_id)), by([ grep { $_->{updated_at} ge $T } @$levels ], qw(inventory_item_id location_id)),
		"inventoryLevels(query: \"$q\"): exactly the levels updated since (" . scalar(@rows) . ')');
	my $lid = "gid://shopify/InventoryLevel/$levels->[0]{location_id}?inventory_item_id=$levels->[0]{inventory_item_id}";
	$d = ok_data('query N($id: ID!) { node(id: $id) { id ... on InventoryLevel { item { id } location { id } } } '
		. 'inventoryLevel(id: $id) { id } }', { id => $lid });
	is_deeply([ $d->{data}{node}{id}, num($d->{data}{node}{item}{id}), num($d->{data}{node}{location}{id}), $d->{data}{inventoryLevel}{id} ],
		[ $lid, $levels->[0]{inventory_item_id}, $levels->[0]{location_id}, $lid ],
		"node(id:) and inventoryLevel(id:) of Shopify's InventoryLevel id form ($lid)");
}

note(sprintf('%.1f s', time() - $T0));
# -- collections ----------------------------------------------------------------------------------------
sub collection_rows {
	my ($got, $version) = @_;
	my (@c, @p);
	for my $e (@$got) {
		my $n = $e->[0];
		my $smart = $version ge '2026-07' ? scalar(@{ $n->{sources} }) : defined $n->{ruleSet};
		push @c, { collection_id => num($n->{id}), title => $n->{title}, handle => $n->{handle},
			kind => $smart ? 'smart' : 'custom', sort_order => lc $n->{sortOrder}, updated_at => $n->{updatedAt},
			($version ge '2026-07' ? (sources => $n->{sources}) : (rule_set => $n->{ruleSet})) };
		my $k = 0;
		push @p, map { { collection_id => num($n->{id}), product_id => num($_->{id}), position => ++$k } } @{ $e->[1] };
	}
	return (\@c, \@p);
}
{
	is(scalar(@$colls), 40, '40 collections');
	my @smart = grep { $_->{kind} eq 'smart' } @$colls;
	ok(@smart >= 5 && @smart < 40, scalar(@smart) . ' smart ones');
	ok((grep { !$cp_per_coll{ $_->{collection_id} } } @$colls), '... an empty collection');
	ok((grep { $_ > 250 } values %cp_per_coll), '... a collection with more products than a page (' . max(values %cp_per_coll) . ')');
	my %in; $in{ $_->{product_id} }++ for @$cprods;
	ok(max(values %in) >= 8, '... a product in many collections (' . max(values %in) . ')');
	my %types = map { $_->{'__typename'} => 1 } map { @{ $_->{inclusion}{conditions} } } map { @{ $_->{sources} } } @smart;
	is_deeply([ sort keys %types ], [ map { "CollectionSourceInclusionCondition$_" } qw(ProductTag ProductTitle ProductType ProductVendor VariantInventory VariantPrice) ],
		'... conditions of each type the extension names');
	my %orders = map { $_->{sort_order} => 1 } @$colls;
	ok(keys(%orders) >= 5, 'sort orders: ' . join(', ', sort keys %orders));

	for my $version ('2026-07', '2026-04') {
		my $exp = $version ge '2026-07' ? strip($colls, 'rule_set') : strip($colls, 'sources');
		my ($got, $pages, $more) = walk(doc => $DOC{"$version ShopifySyncCollections"}, root => 'collections', child => 'products',
			more => $DOC{"$version ShopifySyncCollectionProducts"}, single => 'collection', vars => { first => 3, productsFirst => 50, query => undef });
		my ($c, $p) = collection_rows($got, $version);
		is_deeply(by($c, 'collection_id'), by($exp, 'collection_id'),
			"$version ShopifySyncCollections: exactly the expected collections ($pages pages, " . ($version ge '2026-07' ? 'sources' : 'ruleSet') . ')');
		is_deeply(by($p, qw(collection_id position)), by($cprods, qw(collection_id position)),
			"... and their products in the collection's order, with ShopifySyncCollectionProducts follow-ups ($more)");
		my @u = map { $_->[0]{updatedAt} } @$got;
		is_deeply(\@u, [ sort @u ], '... sorted by updatedAt (sortKey: UPDATED_AT)');

		my $T = median_ts($colls, 'updated_at');
		($got) = walk(doc => $DOC{"$version ShopifySyncCollections incremental"}, root => 'collections', child => 'products',
			more => $DOC{"$version ShopifySyncCollectionProducts"}, single => 'collection', vars => { first => 3, productsFirst => 250, query => "updated_at:>='$T'" });
		($c) = collection_rows($got, $version);
		is_deeply(by($c, 'collection_id'), by([ grep { $_->{updated_at} ge $T } @$exp ], 'collection_id'), "... query updated_at:>='$T': those updated since");
		my $d = ok_data($DOC{"$version ShopifySyncCollectionsCount"}{query}, { query => "updated_at:>='$T'" }, $version, 'count');
		is($d->{data}{collectionsCount}{count}, scalar(grep { $_->{updated_at} ge $T } @$colls), '... collectionsCount with the same filter');
	}
	# the same rules either way: ruleSet (before 2026-07) and sources (from 2026-07)
	my $REL = { EQUALS => 'TAGGED_WITH', NOT_EQUALS => 'NOT_TAGGED_WITH' };
	my $ok = 1;
	for my $c (@smart) {
		my $conds = $c->{sources}[0]{inclusion}{conditions};
		$ok = 0 unless $c->{sources}[0]{inclusion}{matchType} eq ($c->{rule_set}{appliedDisjunctively} ? 'ANY' : 'ALL')
		  && @$conds == @{ $c->{rule_set}{rules} };
		for my $i (0 .. $#$conds) {
			my ($r, $k) = ($c->{rule_set}{rules}[$i], $conds->[$i]);
			my ($rel) = grep { /Relation$/ } keys %$k;
			my ($val) = grep { !/Relation$|^__typename$/ } keys %$k;
			my $want_rel = $r->{column} eq 'TAG' ? $REL->{ $r->{relation} } : $r->{relation} eq 'NOT_CONTAINS' ? 'DOES_NOT_CONTAIN' : $r->{relation};
			my $v = $k->{$val};
			$v = ref $v eq 'ARRAY' ? $v->[0] : ref $v ? $v->{amount} : $v;
			my $same = $r->{column} =~ /^VARIANT_/ ? $v == $r->{condition} : $v eq $r->{condition};
			$ok = 0 unless $k->{$rel} eq $want_rel && $same;
		}
	}
	ok($ok, 'smart collections: sources hold the conditions of the ruleSet (type, relation, value, ALL/ANY)');

	# membership follows the rules
	my %prod = map { $_->{product_id} => $_ } @$gql_rows;
	my ($n_checked, $all_match) = (0, 1);
	for my $sc (grep { my $id = $_->{collection_id}; ($cp_per_coll{$id} // 0) > 0 && $cp_per_coll{$id} <= 100 } @smart) {
	my $d = ok_data('query C($id: ID!) { collection(id: $id) { ruleSet { appliedDisjunctively rules { column relation condition } } '
		. 'products(first: 100) { nodes { title vendor productType tags } } } }',
		{ id => "gid://shopify/Collection/$sc->{collection_id}" }, '2026-04');
	my $rs = $d->{data}{collection}{ruleSet};
	my $match = sub {
		my ($n, $r) = @_;
		my %col = (TITLE => $n->{title}, VENDOR => $n->{vendor}, TYPE => $n->{productType});
		my ($rel, $c) = ($r->{relation}, lc $r->{condition});
		if ($r->{column} eq 'TAG') { my $h = grep { lc($_) eq $c } @{ $n->{tags} }; return $rel eq 'EQUALS' ? $h : !$h }
		if (exists $col{ $r->{column} }) {
			my $x = lc($col{ $r->{column} } // '');
			return $rel eq 'EQUALS' ? $x eq $c : $rel eq 'NOT_EQUALS' ? $x ne $c : $rel eq 'CONTAINS' ? index($x, $c) >= 0
			  : $rel eq 'NOT_CONTAINS' ? index($x, $c) < 0 : $rel eq 'STARTS_WITH' ? index($x, $c) == 0 : substr($x, -length $c) eq $c;
		}
		return 1;          # variant rules: not checked here
	};
	for my $n (@{ $d->{data}{collection}{products}{nodes} }) {
		my @m = map { $match->($n, $_) ? 1 : 0 } @{ $rs->{rules} };
		$all_match = 0 unless $rs->{appliedDisjunctively} ? sum0(@m) : sum0(@m) == @m;
		$n_checked++;
	}
	}
	ok($all_match && $n_checked, "smart collections' products meet their rules ($n_checked products checked)");
}

note(sprintf('%.1f s', time() - $T0));
# -- metafields -------------------------------------------------------------------------------------------
my %owner_updated;       # owner type -> id -> updatedAt epoch (for the incremental filters)
my @SHOPIFY_TYPES = qw(single_line_text_field multi_line_text_field rich_text_field number_integer number_decimal
	boolean date date_time color url json money weight volume dimension rating link id
	product_reference variant_reference collection_reference file_reference page_reference metaobject_reference
	mixed_reference customer_reference company_reference product_taxonomy_value_reference article_reference);
my @LISTS = map { "list.$_" } qw(single_line_text_field number_integer number_decimal date date_time color url
	weight volume dimension rating link product_reference variant_reference collection_reference file_reference
	page_reference metaobject_reference mixed_reference customer_reference company_reference product_taxonomy_value_reference
	article_reference);
my %JSON_TYPE = map { $_ => 1 } qw(json money weight volume dimension rating link rich_text_field);
{
	my %have = map { $_->{type} => 1 } @$mfs;
	my @missing = grep { !$have{$_} } @SHOPIFY_TYPES, @LISTS;
	is_deeply(\@missing, [], 'every metafield type Shopify lists is present (' . scalar(keys %have) . ' types, '
		. scalar(@$mfs) . ' metafields)');
	my %owners = map { $_->{owner_type} => 1 } @$mfs;
	is_deeply([ sort keys %owners ], [qw(customer order product shop variant)], '... of products, variants, orders, customers and the shop');
	my $bad = grep { my $j = $_->{type} =~ /^list\./ || $JSON_TYPE{ $_->{type} } || !$have{ $_->{type} }; 
		$j ? !defined $_->{value_json} || $JSON->canonical->encode([$_->{value_json}]) ne $JSON->canonical->encode([ JSON::PP->new->decode($_->{value}) ])
		   : defined $_->{value_json} } grep { $_->{type} =~ /^list\.|^(json|money|weight|volume|dimension|rating|link|rich_text_field|single_line_text_field|number_integer|boolean)$/ } @$mfs;
	is($bad, 0, '... value_json: the parsed value of JSON-like types, null for the others');
	my %enc = map { $_->{type} => $_->{value} } @$mfs;
	ok($enc{boolean} =~ /^(true|false)$/ && $enc{number_integer} =~ /^-?\d+$/ && $enc{date} =~ /^\d{4}-\d\d-\d\d$/
		&& $enc{color} =~ /^#[0-9a-f]{6}$/ && $enc{money} =~ /"currency_code":"USD"/ && $enc{weight} =~ /"unit":"/
		&& $enc{rating} =~ /"scale_max":"5.0"/ && $enc{product_reference} =~ m{^gid://shopify/Product/\d+$}
		&& $enc{'list.single_line_text_field'} =~ /^\[".*"\]$/, 'values encoded as Shopify encodes each type');

	for my $r (@$gql_rows) {
		$owner_updated{product}{ $r->{product_id} } = iso_epoch($r->{product_updated_at});
		$owner_updated{variant}{ $r->{sku_id} } = iso_epoch($r->{variant_updated_at});
	}
	$owner_updated{order}{ $_->{order_id} } = iso_epoch($_->{updated_at}) for @{ $s->orders_expected($D)->{orders} };
	$owner_updated{customer}{ $_->{customer_id} } = iso_epoch($_->{updated_at}) for @$custs;

	for my $k (['product', 'Product', 'products', 'product'], ['variant', 'Variant', 'productVariants', 'productVariant'],
		['order', 'Order', 'orders', 'order'], ['customer', 'Customer', 'customers', 'customer']) {
		my ($type, $name, $root, $single) = @$k;
		my $exp = strip([ grep { $_->{owner_type} eq $type } @$mfs ], 'value_json');
		my ($got, $pages, $more) = walk(doc => $DOC{"2026-07 ShopifySync${name}Metafields"}, root => $root, child => 'metafields',
			more => $DOC{"2026-07 ShopifySync${name}MetafieldsMore"}, single => $single,
			vars => { first => 35, metafieldsFirst => 2, query => undef });
		my @rows = map { my $o = $_->[0]{id}; map { metafield_row($type, $o, $_) } @{ $_->[1] } } @$got;
		is_deeply(by(\@rows, 'metafield_id'), by($exp, 'metafield_id'),
			"ShopifySync${name}Metafields: exactly the ${type}s' metafields (" . scalar(@rows) . " in $pages pages, $more follow-ups)");
		my @t = sort { $a <=> $b } values %{ $owner_updated{$type} };
		my $T = $t[int(@t / 2)];
		my $iso = do { my @g = gmtime($T); sprintf('%04d-%02d-%02dT%02d:%02d:%02dZ', $g[5] + 1900, $g[4] + 1, @g[3, 2, 1, 0]) };
		($got) = walk(doc => $DOC{"2026-07 ShopifySync${name}Metafields incremental"}, root => $root, child => 'metafields',
			more => $DOC{"2026-07 ShopifySync${name}MetafieldsMore"}, single => $single,
			vars => { first => 35, metafieldsFirst => 25, query => "updated_at:>='$iso'" });
		my %owners_got = map { num($_->[0]{id}) => 1 } @$got;
		my @want = grep { $owner_updated{$type}{$_} >= $T } keys %{ $owner_updated{$type} };
		is_deeply([ sort keys %owners_got ], [ sort @want ], "... query updated_at:>='$iso': exactly the ${type}s updated since (" . scalar(@want) . ')');
	}
	my $exp = strip([ grep { $_->{owner_type} eq 'shop' } @$mfs ], 'value_json');
	my ($after, @rows, $pages) = (undef);
	while (1) {
		my $d = ok_data($DOC{'2026-07 ShopifySyncShopMetafieldsMore'}{query}, { first => 5, after => $after }, '2026-07', 'shop metafields');
		my $m = $d->{data}{shop}{metafields};
		push @rows, map { metafield_row('shop', $d->{data}{shop}{id}, $_) } @{ $m->{nodes} };
		$pages++;
		last unless $m->{pageInfo}{hasNextPage};
		$after = $m->{pageInfo}{endCursor};
	}
	is_deeply(by(\@rows, 'metafield_id'), by($exp, 'metafield_id'), "ShopifySyncShopMetafieldsMore: the shop's 12 metafields ($pages pages of 5)");
	my $d = ok_data('query M($id: ID!) { product(id: $id) { metafields(first: 10, namespace: "custom") { nodes { namespace } } } }',
		{ id => "gid://shopify/Product/$ID{Product}" });
	ok(!grep({ $_->{namespace} ne 'custom' } @{ $d->{data}{product}{metafields}{nodes} }), 'metafields(namespace:) filters');
}

note(sprintf('%.1f s', time() - $T0));
# -- customers --------------------------------------------------------------------------------------------------
{
	is(scalar(@$custs), 300, '300 customers');
	my %states = map { $_->{state} => 1 } @$custs;
	is_deeply([ sort keys %states ], [qw(declined disabled enabled invited)], '... in every state');
	my $uni = join(' ', map { ($_->{first_name} // '') . ' ' . ($_->{last_name} // '') } @$custs);
	utf8::decode($uni) unless utf8::is_utf8($uni);
	ok($uni =~ /\p{Han}/ && $uni =~ /\p{Hebrew}/ && $uni =~ /\p{Arabic}/ && $uni =~ /\p{Cyrillic}/
		&& $uni =~ /[\x{1F300}-\x{1FAFF}]/ && $uni =~ /[\x{e0}-\x{ff}]/, 'unicode names: CJK, RTL (Hebrew, Arabic), Cyrillic, emoji, accents');
	ok((grep { !defined $_->{email} } @$custs) && (grep { !defined $_->{first_name} } @$custs), '... some without email or first name');
	my ($got, $pages) = walk(doc => $DOC{'2026-07 ShopifySyncCustomers'}, root => 'customers', vars => { first => 40, query => undef });
	is_deeply(by([ map { customer_row($_->[0]) } @$got ], 'customer_id'), by(strip($custs, qw(email first_name last_name)), 'customer_id'),
		"ShopifySyncCustomers: exactly the expected customers ($pages pages)");
	ok(!grep({ $_->[0]{numberOfOrders} !~ /^\d+$/ || ref $_->[0]{numberOfOrders} } @$got), '... numberOfOrders an UnsignedInt64 string');
	my $T = median_ts($custs, 'updated_at');
	($got) = walk(doc => $DOC{'2026-07 ShopifySyncCustomers incremental'}, root => 'customers', vars => { first => 250, query => "updated_at:>='$T'" });
	is_deeply(by([ map { customer_row($_->[0]) } @$got ], 'customer_id'),
		by(strip([ grep { $_->{updated_at} ge $T } @$custs ], qw(email first_name last_name)), 'customer_id'), "... query updated_at:>='$T'");
	my $d = ok_data($DOC{'2026-07 ShopifySyncCustomersCount'}{query}, { query => "updated_at:>='$T'" }, '2026-07', 'count');
	is($d->{data}{customersCount}{count}, scalar(grep { $_->{updated_at} ge $T } @$custs), 'ShopifySyncCustomersCount with the filter');
	$d = ok_data('{ customers(first: 250, sortKey: ID) { nodes { id firstName lastName defaultEmailAddress { emailAddress } } } }');
	my %pers = map { num($_->{id}) => [ $_->{firstName}, $_->{lastName}, $_->{defaultEmailAddress} && $_->{defaultEmailAddress}{emailAddress} ] } @{ $d->{data}{customers}{nodes} };
	is_deeply(\%pers, { map { $_->{customer_id} => [ @$_{qw(first_name last_name email)} ] } grep { $pers{ $_->{customer_id} } } @$custs },
		'firstName, lastName, defaultEmailAddress as expected (first 250 by id)');

	# orders point at customers; a customer's figures are its orders'
	my $exp = $s->orders_expected($D);
	my %total = map { $_->{order_id} => $_ } @{ $exp->{orders} };
	$d = ok_data('{ orders(first: 250, sortKey: UPDATED_AT) { nodes { id customer { id } } } }');
	my @with = grep { $_->{customer} } @{ $d->{data}{orders}{nodes} };
	my %cust = map { $_->{customer_id} => $_ } @$custs;
	ok(@with > 150 && !grep({ !$cust{ num($_->{customer}{id}) } } @with), 'orders\' customer { id } point at the customers (' . scalar(@with) . ' of 250; guests have none)');
	my %n; $n{ num($_->{customer}{id}) }++ for @with;
	my ($c1) = sort { $n{$b} <=> $n{$a} } keys %n;
	ok($cust{$c1}{number_of_orders} >= $n{$c1}, "a customer's numberOfOrders counts its orders ($cust{$c1}{number_of_orders})");
}

note(sprintf('%.1f s', time() - $T0));
# -- bulk exports ---------------------------------------------------------------------------------------------
my $Q_START = 'mutation B($q: String!) { bulkOperationRunQuery(query: $q) { bulkOperation { id status } userErrors { field message code } } }';
my $Q_POLL = 'query P($id: ID!) { node(id: $id) { ... on BulkOperation { id status errorCode url objectCount rootObjectCount } } }';
my $http = HTTP::Tiny->new(timeout => 30);
sub bulk_lines {
	my ($q, $version) = @_;
	my $d = ok_data($Q_START, { q => $q }, $version, 'bulk start');
	my $op = $d->{data}{bulkOperationRunQuery};
	die 'bulk start: ' . $JSON->encode($op) unless $op->{bulkOperation};
	my $deadline = time() + 30;
	my $n;
	while (1) {
		$n = ok_data($Q_POLL, { id => $op->{bulkOperation}{id} }, $version, 'poll')->{data}{node};
		last if $n->{status} !~ /^(CREATED|RUNNING)$/ || time() > $deadline;
		sleep(0.05);
	}
	die "bulk: $n->{status}" unless $n->{status} eq 'COMPLETED';
	my $r = $http->get($n->{url});
	return ([ map { $JSON->decode($_) } split /\n/, $r->{content} ], $n);
}
sub children_of {
	my ($lines) = @_;
	my (%kids, @roots, $order_ok);
	$order_ok = 1;
	my %seen;
	for my $l (@$lines) {
		if (defined $l->{__parentId}) {
			$order_ok = 0 unless $seen{ $l->{__parentId} };
			my %c = %$l; delete $c{__parentId};
			push @{ $kids{ $l->{__parentId} } }, \%c;
		} else {
			$seen{ $l->{id} } = 1;
			push @roots, $l;
		}
	}
	return ([ map { [ $_, $kids{ $_->{id} } // [] ] } @roots ], $order_ok);
}
{
	$s->set_bulk($D, { delay_s => 0.05 });
	my $T = '2026-01-01T00:00:00Z';
	for my $k (
		['2026-07 bulk:inventory_levels', sub {
			my ($g) = @_;
			return [ map { my $l = $_->[0]{id}; map { level_row($l, $_) } @{ $_->[1] } } @$g ] },
		 sub { $levels }, qw(inventory_item_id location_id)],
		['2026-07 bulk:inventory_levels:incremental', sub {
			my ($g) = @_;
			return [ map { my $l = $_->[0]{id}; map { level_row($l, $_) } @{ $_->[1] } } @$g ] },
		 sub { [ grep { $_->{updated_at} ge $T } @$levels ] }, qw(inventory_item_id location_id)],
		['2026-07 bulk:collections', sub { my ($c, $p) = collection_rows($_[0], '2026-07'); [ @$c, @$p ] },
		 sub { [ @{ strip($colls, 'rule_set') }, @$cprods ] }, qw(collection_id position)],
		['2026-04 bulk:collections', sub { my ($c, $p) = collection_rows($_[0], '2026-04'); [ @$c, @$p ] },
		 sub { [ @{ strip($colls, 'sources') }, @$cprods ] }, qw(collection_id position)],
		['2026-07 bulk:collections:incremental', sub { my ($c) = collection_rows($_[0], '2026-07'); $c },
		 sub { strip([ grep { $_->{updated_at} ge $T } @$colls ], 'rule_set') }, qw(collection_id)],
		['2026-07 bulk:customers', sub { [ map { customer_row($_->[0]) } @{ $_[0] } ] },
		 sub { strip($custs, qw(email first_name last_name)) }, qw(customer_id)],
		['2026-07 bulk:customers:incremental', sub { [ map { customer_row($_->[0]) } @{ $_[0] } ] },
		 sub { strip([ grep { $_->{updated_at} ge $T } @$custs ], qw(email first_name last_name)) }, qw(customer_id)],
		(map { my ($type, $name) = @$_;
			(["2026-07 bulk:${type}_metafields", sub { [ map { my $o = $_->[0]{id}; map { metafield_row($type, $o, $_) } @{ $_->[1] } } @{ $_[0] } ] },
			  sub { strip([ grep { $_->{owner_type} eq $type } @$mfs ], 'value_json') }, qw(metafield_id)]) }
			['product', 'Product'], ['variant', 'Variant'], ['order', 'Order'], ['customer', 'Customer']),
	) {
		my ($name, $rows_of, $want, @key) = @$k;
		my $doc = $DOC{$name} or die "no document $name";
		my ($lines, $n) = bulk_lines($doc->{query}, $doc->{version});
		my ($g, $order_ok) = children_of($lines);
		is_deeply(by($rows_of->($g), @key), by($want->(), @key), "$name: " . scalar(@$lines) . ' lines ('
			. scalar(@$g) . ' roots), exactly the expected rows');
		ok($order_ok && $n->{objectCount} == @$lines && $n->{rootObjectCount} == @$g, '... children after their parent (__parentId), objectCount and rootObjectCount');
	}
	# incremental metafield exports: the filter is on the owners
	my $since = iso_epoch($T);
	for my $name ('product', 'variant', 'order', 'customer') {
		my $doc = $DOC{"2026-07 bulk:${name}_metafields:incremental"};
		my ($lines) = bulk_lines($doc->{query}, $doc->{version});
		my ($g) = children_of($lines);
		my @want = grep { $owner_updated{$name}{$_} >= $since } keys %{ $owner_updated{$name} };
		my %want = map { $_ => 1 } @want;
		is_deeply([ sort { $a <=> $b } map { num($_->[0]{id}) } @$g ], [ sort { $a <=> $b } @want ],
			"2026-07 bulk:${name}_metafields:incremental: exactly the ${name}s updated since $T (" . scalar(@want) . ')');
		is_deeply(by([ map { my $o = $_->[0]{id}; map { metafield_row($name, $o, $_) } @{ $_->[1] } } @$g ], 'metafield_id'),
			by(strip([ grep { $_->{owner_type} eq $name && $want{ $_->{owner_id} } } @$mfs ], 'value_json'), 'metafield_id'),
			'... with their metafields');
	}
	my ($lines) = bulk_lines('{ locations { edges { node { id isActive } } } }', '2026-07');
	is(scalar(@$lines), 9, 'a bulk export of locations without includeInactive: the 9 active ones');
}

note(sprintf('%.1f s', time() - $T0));
# -- store_mutate: answers change, Shopify's webhooks -----------------------------------------------------------
sub topics { return [ map { $_->{topic} } @{ $_[0]{webhooks} } ] }
sub mutate_status {
	my ($domain, $ops) = @_;
	my $res = $s->{http}->request('POST', $s->base_url . "/_control/shops/$domain/store_mutate",
		{ content => $JSON->encode({ ops => $ops }), headers => { 'Content-Type' => 'application/json' } });
	return ($res->{status}, eval { $JSON->decode($res->{content}) } // $res->{content});
}
my ($lv0) = grep { $_->{available} >= 0 && $_->{available} < 1000 } @$levels;
my $loc_inactive = first { !$_->{active} } @$locs;
{
	my ($st, $body) = mutate_status($D, [{ op => 'nope' }]);
	ok($st == 400 && $body->{errors} =~ /unknown op/, 'store_mutate: an unknown op -> 400');

	# inventory
	my $before = $vrow{ $lv0->{inventory_item_id} };
	my $r = $s->store_mutate($D, [{ op => 'set_level', item => $lv0->{inventory_item_id}, location => $lv0->{location_id},
		available => $lv0->{available} + 7, incoming => 3 }]);
	my $ts = $r->{ts};
	is_deeply(topics($r), [qw(inventory_levels/update products/update)], 'set_level: inventory_levels/update, products/update');
	my $p = $r->{webhooks}[0]{payload};
	is_deeply([ sort keys %$p ], [qw(admin_graphql_api_id available inventory_item_id location_id updated_at)], '... the REST inventory level');
	is($p->{available}, $lv0->{available} + 7, '... available');
	is($p->{admin_graphql_api_id}, "gid://shopify/InventoryLevel/$lv0->{location_id}?inventory_item_id=$lv0->{inventory_item_id}", '... its gid');
	is(iso_epoch($p->{updated_at}), $ts, '... updated_at the call\'s timestamp');
	my $pp = $r->{webhooks}[1]{payload};
	my ($v) = grep { $_->{inventory_item_id} == $lv0->{inventory_item_id} } @{ $pp->{variants} };
	is($v->{inventory_quantity}, $before->{inventory_quantity} + 7, '... products/update: the variant\'s inventory_quantity + 7');
	ok(iso_epoch($v->{updated_at}) == $ts && iso_epoch($pp->{updated_at}) == $ts, '... the variant\'s and the product\'s updated_at moved');
	ok(@{ $pp->{variant_gids} } >= @{ $pp->{variants} }, '... variant_gids listed');
	my $lid = "gid://shopify/InventoryLevel/$lv0->{location_id}?inventory_item_id=$lv0->{inventory_item_id}";
	my $d = ok_data('query L($id: ID!) { inventoryLevel(id: $id) { updatedAt quantities(names: ["available", "incoming", "on_hand"]) { name quantity } } }', { id => $lid });
	is_deeply($d->{data}{inventoryLevel}{quantities}, [ { name => 'available', quantity => $lv0->{available} + 7 },
		{ name => 'incoming', quantity => 3 }, { name => 'on_hand', quantity => $lv0->{on_hand} + 7 } ],
		'... the level answers the new quantities (on_hand follows available)');
	$d = ok_data('query V($id: ID!) { productVariant(id: $id) { inventoryQuantity updatedAt } }', { id => "gid://shopify/ProductVariant/$before->{sku_id}" });
	is($d->{data}{productVariant}{inventoryQuantity}, $before->{inventory_quantity} + 7, '... GraphQL inventoryQuantity = the new sum');
	my $iso = $d->{data}{productVariant}{updatedAt};
	my ($lg) = walk(doc => $DOC{'2026-07 ShopifySyncInventoryLevels'}, root => 'locations', child => 'inventoryLevels',
		more => $DOC{'2026-07 ShopifySyncLocationInventoryLevels'}, single => 'location',
		vars => { first => 1, levelsFirst => 250, query => "updated_at:>='$iso'" }, more_vars => { query => "updated_at:>='$iso'" });
	my @got = map { [ num($_->[0]{id}), map { num($_->{item}{id}) } @{ $_->[1] } ] } @$lg;
	is_deeply([ grep { @$_ > 1 } @got ], [ [ $lv0->{location_id}, $lv0->{inventory_item_id} ] ], '... the incremental levels since then: that level alone');
	$d = ok_data($DOC{'2026-07 ShopifySyncVariantMetafields'}{query}, { first => 50, metafieldsFirst => 1, query => "updated_at:>='$iso'" });
	is_deeply([ map { num($_->{id}) } @{ $d->{data}{productVariants}{nodes} } ], [ $before->{sku_id} ], '... productVariants(query: updated_at) since then: that variant');
	my $rest = $s->api($shop->{token}, GET => "/admin/api/2026-07/products/$before->{product_id}.json");
	my ($rv) = grep { $_->{id} == $before->{sku_id} } @{ $JSON->decode($rest->{content})->{product}{variants} };
	is($rv->{inventory_quantity}, $before->{inventory_quantity} + 7, '... REST inventory_quantity too');
	check_invariant('after set_level');

	# a new level at another location, then removed
	my %has = map { $_->{location_id} => 1 } grep { $_->{inventory_item_id} == $lv0->{inventory_item_id} } @$levels;
	my ($free) = grep { $_->{active} && !$has{ $_->{location_id} } } @$locs;
	SKIP: {
		skip 'the item is stocked everywhere', 3 unless $free;
		$r = mutate([{ op => 'set_level', item => $lv0->{inventory_item_id}, location => $free->{location_id}, on_hand => 5 }]);
		is_deeply(topics($r), [qw(inventory_levels/connect inventory_levels/update products/update)], 'set_level at a new location: connect, update, products/update');
		check_invariant('after a new level');
		$r = mutate([{ op => 'delete_level', item => $lv0->{inventory_item_id}, location => $free->{location_id} }]);
		is_deeply([ topics($r), $r->{webhooks}[0]{payload} ], [ [qw(inventory_levels/disconnect products/update)],
			{ inventory_item_id => $lv0->{inventory_item_id}, location_id => $free->{location_id} } ],
			'delete_level: inventory_levels/disconnect {inventory_item_id, location_id}');
	}
	($st, $body) = mutate_status($D, [{ op => 'set_level', item => $lv0->{inventory_item_id}, location => $loc_inactive->{location_id}, available => 1 }]);
	ok($st == 400 && $body->{errors} =~ /not active/, 'a level at an inactive location is refused');

	# an item (and its variant) deleted
	my ($multi) = grep { my $pid = $_->{product_id}; $pid != $before->{product_id} && (grep { $_->{product_id} == $pid } @$gql_rows) > 1 } @$gql_rows;
	$r = mutate([{ op => 'delete_inventory_item', item => $multi->{inventory_item_id} }]);
	is_deeply([ topics($r), $r->{webhooks}[0]{payload} ], [ [qw(inventory_items/delete products/update)], { id => $multi->{inventory_item_id} } ],
		'delete_inventory_item: inventory_items/delete {id}, products/update (the variant went with it)');
	ok(!grep({ $_->{inventory_item_id} == $multi->{inventory_item_id} } @{ store_rows($D, 'inventory_levels') }), '... its levels are gone');
	$r = mutate([{ op => 'update_inventory_item', item => $lv0->{inventory_item_id}, cost => '4.50' }]);
	is_deeply([ topics($r), [ sort keys %{ $r->{webhooks}[0]{payload} } ], $r->{webhooks}[0]{payload}{cost} ],
		[ ['inventory_items/update'], [qw(admin_graphql_api_id cost country_code_of_origin country_harmonized_system_codes created_at harmonized_system_code id province_code_of_origin requires_shipping sku tracked updated_at)], '4.50' ],
		'update_inventory_item: inventory_items/update, the REST inventory item');

	# the catalog's own mutations keep the invariant
	my $m = $s->mutate($D, { update => 20, delete => 3, create => 2, delete_variants => 2, add_variants => 2, seed => 5,
		ops => [{ op => 'update', product_id => $before->{product_id}, variant => { id => $before->{sku_id}, inventory_quantity => 12345 } }] });
	check_invariant('after the catalog\'s mutate (updates, deletes, creates, variants)');
	my %deleted = map { $_ => 1 } @{ $m->{deleted} };
	ok(!grep({ $deleted{ $_->{owner_id} } } @{ store_rows($D, 'metafields', owner_type => 'product') })
		&& !grep({ $deleted{ $_->{product_id} } } @{ store_rows($D, 'collection_products') }),
		'... deleted products leave no metafields and no collection memberships');
}
{
	# locations
	my $r = mutate([{ op => 'add_location', name => 'Склад №2 — 倉庫', address1 => '1 Rue X', city => 'Lyon', country_code => 'FR', zip => '69001' }]);
	my $new = $r->{results}[0]{id};
	is_deeply(topics($r), ['locations/create'], 'add_location: locations/create');
	is_deeply([ sort keys %{ $r->{webhooks}[0]{payload} } ], [ sort qw(id name address1 address2 city zip province country phone created_at updated_at
		country_code country_name province_code legacy active admin_graphql_api_id localized_country_name localized_province_name) ],
		'... the REST location');
	my $d = ok_data($DOC{'2026-07 ShopifySyncLocations'}{query}, { first => 250, query => undef });
	ok((grep { $_->{id} eq "gid://shopify/Location/$new" && $_->{name} eq 'Склад №2 — 倉庫' } @{ $d->{data}{locations}{nodes} }), '... listed');
	my $from = $lv0->{location_id};
	my $n_at = scalar(grep { $_->{location_id} == $from } @{ store_rows($D, 'inventory_levels') });
	$r = mutate([{ op => 'update_location', id => $from, active => JSON::PP::false, move_to => $new }]);
	my %t; $t{$_}++ for @{ topics($r) };
	ok($t{'locations/update'} == 1 && $t{'inventory_levels/disconnect'} == $n_at && $t{'inventory_levels/connect'} == $n_at
		&& $t{'products/update'} >= 1, "update_location active: false, move_to: locations/update, $n_at levels disconnected and moved (connect + update), products/update");
	ok(!$r->{webhooks}[0]{payload}{active}, '... inactive in the payload');
	check_invariant('after moving a location\'s inventory');
	my ($st) = mutate_status($D, [{ op => 'delete_location', id => $new }]);
	is($st, 400, 'delete_location of an active location is refused (Shopify deletes deactivated ones)');
	$r = mutate([{ op => 'delete_location', id => $from }]);
	is_deeply($r->{webhooks}, [{ topic => 'locations/delete', payload => { id => $from } }], 'delete_location: locations/delete {id}');
	$d = ok_data('query L($id: ID!) { location(id: $id) { id } }', { id => "gid://shopify/Location/$from" });
	is($d->{data}{location}, undef, '... gone');
}
{
	# collections
	my ($custom) = grep { $_->{kind} eq 'custom' && $_->{sort_order} eq 'manual' && ($cp_per_coll{ $_->{collection_id} } // 0) > 2 } @$colls;
	my @members = map { $_->{product_id} } grep { $_->{collection_id} == $custom->{collection_id} } @{ store_rows($D, 'collection_products') };
	my ($outside) = grep { my $p = $_->{product_id}; !grep { $_ == $p } @members } @$gql_rows;
	my $r = mutate([{ op => 'add_to_collection', collection => $custom->{collection_id}, product => $outside->{product_id}, position => 1 }]);
	my $ts = $r->{ts};
	is_deeply(topics($r), ['collections/update'], 'add_to_collection: collections/update');
	my $p = $r->{webhooks}[0]{payload};
	is_deeply([ sort keys %$p ], [ sort qw(id handle title updated_at body_html published_at sort_order template_suffix published_scope admin_graphql_api_id) ],
		'... the REST collection');
	ok($p->{sort_order} eq 'manual' && iso_epoch($p->{updated_at}) == $ts, '... sort_order manual, updated_at moved (a custom collection\'s products changed)');
	my $d = ok_data($DOC{'2026-07 ShopifySyncCollectionProducts'}{query}, { id => "gid://shopify/Collection/$custom->{collection_id}", first => 250 });
	is(num($d->{data}{collection}{products}{nodes}[0]{id}), $outside->{product_id}, '... the product first (position 1)');
	my @new_order = reverse map { num($_->{id}) } @{ $d->{data}{collection}{products}{nodes} };
	$r = mutate([{ op => 'reorder_collection', collection => $custom->{collection_id}, products => \@new_order }]);
	$d = ok_data($DOC{'2026-07 ShopifySyncCollectionProducts'}{query}, { id => "gid://shopify/Collection/$custom->{collection_id}", first => 250 });
	is_deeply([ map { num($_->{id}) } @{ $d->{data}{collection}{products}{nodes} } ], \@new_order, 'reorder_collection: the new order');
	$r = mutate([{ op => 'remove_from_collection', collection => $custom->{collection_id}, product => $outside->{product_id} }]);
	is_deeply(topics($r), ['collections/update'], 'remove_from_collection: collections/update');
	my $exp = [ grep { $_->{collection_id} == $custom->{collection_id} } @{ store_rows($D, 'collection_products') } ];
	is_deeply([ map { $_->{product_id} } @$exp ], [ grep { $_ != $outside->{product_id} } @new_order ], '... store_expected follows (positions 1..n)');

	my ($smart) = grep { $_->{kind} eq 'smart' } @$colls;
	my ($st, $body) = mutate_status($D, [{ op => 'add_to_collection', collection => $smart->{collection_id}, product => $outside->{product_id} }]);
	is($st, 400, 'add_to_collection of a smart collection is refused');
	my $vendor = (grep { $_->{vendor} eq 'Acme' } @$gql_rows) ? 'Acme' : $gql_rows->[-1]{vendor};
	$r = mutate([{ op => 'update_collection', id => $smart->{collection_id}, title => 'Rebuilt ✓',
		rules => [{ column => 'VENDOR', relation => 'EQUALS', condition => $vendor }], disjunctive => JSON::PP::false }]);
	is_deeply(topics($r), ['collections/update'], 'update_collection with new rules: collections/update');
	my %want = map { $_->{product_id} => 1 } grep { $_->{vendor} eq $vendor } @{ catalog_rows() };
	is_deeply([ sort @{ $r->{results}[0]{products} } ], [ sort keys %want ], '... the products re-computed from the rules');
	$d = ok_data('query C($id: ID!) { collection(id: $id) { title sources { ... on CollectionConditionsSource { inclusion { matchType conditions { ... on CollectionSourceInclusionConditionProductVendor { relation values } } } } } } }',
		{ id => "gid://shopify/Collection/$smart->{collection_id}" });
	is_deeply($d->{data}{collection}, { title => 'Rebuilt ✓', sources => [{ inclusion => { matchType => 'ALL', conditions => [{ relation => 'EQUALS', values => [$vendor] }] } }] },
		'... sources answer the new rule');
	$r = mutate([{ op => 'add_collection', smart => JSON::PP::true, title => 'New smart', sort_order => 'alpha-asc',
		rules => [{ column => 'TAG', relation => 'EQUALS', condition => 'sale' }] }, { op => 'add_collection', title => 'New custom',
		products => [ map { $_->{product_id} } @$gql_rows[0, 10] ] }]);
	is_deeply(topics($r), [qw(collections/create collections/create)], 'add_collection (smart, custom): collections/create');
	is($r->{webhooks}[0]{payload}{sort_order}, 'alpha-asc', '... sort_order in REST form');
	my $gone = $r->{results}[1]{id};
	$r = mutate([{ op => 'delete_collection', id => $gone }]);
	is_deeply($r->{webhooks}, [{ topic => 'collections/delete', payload => { id => $gone } }], 'delete_collection: collections/delete {id}');
	my @rows = grep { $_->{collection_id} == $gone } @{ store_rows($D, 'collections') };
	is(scalar(@rows), 0, '... gone from store_expected');
}
{
	# metafields
	my $pid = $gql_rows->[5]{product_id};
	my $r = mutate([{ op => 'set_metafield', owner_type => 'product', owner_id => $pid, namespace => 'custom',
		key => 'care', type => 'list.single_line_text_field', value => '["Wash cold","Ne pas sécher ✗"]' }]);
	my $mid = $r->{results}[0]{id};
	is_deeply(topics($r), ['products/update'], 'set_metafield on a product: products/update (its updated_at moves)');
	my ($row) = grep { $_->{metafield_id} == $mid } @{ store_rows($D, 'metafields', owner_type => 'product') };
	is_deeply([ @$row{qw(owner_id type value)}, $row->{value_json} ], [ $pid, 'list.single_line_text_field', '["Wash cold","Ne pas sécher ✗"]', ['Wash cold', 'Ne pas sécher ✗'] ],
		'... store_expected has it, value_json parsed');
	my $d = ok_data($DOC{'2026-07 ShopifySyncProductMetafields'}{query}, { first => 5, metafieldsFirst => 25, query => "updated_at:>='$row->{updated_at}'" });
	is_deeply([ map { num($_->{id}) } @{ $d->{data}{products}{nodes} } ], [ $pid ], '... the incremental product page since then: that product');
	ok((grep { num($_->{id}) == $mid } @{ $d->{data}{products}{nodes}[0]{metafields}{nodes} }), '... with the metafield');
	my ($st) = mutate_status($D, [{ op => 'set_metafield', owner_type => 'product', owner_id => $pid, namespace => 'custom', key => 'care', type => 'json', value => '{}' }]);
	is($st, 400, 'changing a metafield\'s type is refused');
	my $oid = $s->orders_expected($D)->{orders}[0]{order_id};
	my $cid = $custs->[0]{customer_id};
	$r = mutate([
		{ op => 'set_metafield', owner_type => 'order', owner_id => $oid, namespace => 'custom', key => 'gift', type => 'boolean', value => 'true' },
		{ op => 'set_metafield', owner_type => 'customer', owner_id => $cid, namespace => 'custom', key => 'size', type => 'dimension', value => '{"value":42.0,"unit":"CENTIMETERS"}' },
		{ op => 'set_metafield', owner_type => 'shop', namespace => 'custom', key => 'banner', type => 'single_line_text_field', value => 'Soldes d\'été ☀' },
		{ op => 'set_metafield', owner_type => 'variant', owner_id => $gql_rows->[7]{sku_id}, namespace => 'custom', key => 'gtin', type => 'id', value => 'X-1' },
		{ op => 'delete_metafield', id => $mid }]);
	is_deeply(topics($r), [qw(orders/updated customers/update shop/update products/update products/update)],
		'set_metafield on an order, a customer, the shop, a variant; delete_metafield: the owners\' webhooks');
	ok(!grep({ $_->{metafield_id} == $mid } @{ store_rows($D, 'metafields') }), '... the deleted one is gone');
	$d = ok_data('{ shop { metafield(namespace: "custom", key: "banner") { value type jsonValue } } }');
	is_deeply($d->{data}{shop}{metafield}, { value => 'Soldes d\'été ☀', type => 'single_line_text_field', jsonValue => 'Soldes d\'été ☀' }, 'shop { metafield(namespace:, key:) }');
}
{
	# customers
	my $r = mutate([{ op => 'add_customer', first_name => 'Ólafur 🦄', last_name => 'אברהם', email => 'olafur@example.com', tags => ['vip', 'new'], state => 'enabled' }]);
	my $cid = $r->{results}[0]{id};
	is_deeply(topics($r), ['customers/create'], 'add_customer: customers/create');
	my $p = $r->{webhooks}[0]{payload};
	ok((!grep { !exists $p->{$_} } qw(id email created_at updated_at first_name last_name orders_count state total_spent last_order_id note verified_email tags currency admin_graphql_api_id))
		&& $p->{tags} eq 'new, vip' && $p->{state} eq 'enabled' && $p->{total_spent} eq '0.00', '... the REST customer (tags a string, state lower case, total_spent)');
	$r = mutate([{ op => 'update_customer', id => $cid, state => 'DISABLED', tags => 'b2b' }]);
	is_deeply([ topics($r), $r->{webhooks}[0]{payload}{state}, $r->{webhooks}[0]{payload}{tags} ], [ ['customers/update'], 'disabled', 'b2b' ], 'update_customer: customers/update');
	my $d = ok_data('query C($id: ID!) { customer(id: $id) { firstName lastName state tags numberOfOrders } }', { id => "gid://shopify/Customer/$cid" });
	is_deeply($d->{data}{customer}, { firstName => 'Ólafur 🦄', lastName => 'אברהם', state => 'DISABLED', tags => ['b2b'], numberOfOrders => '0' }, '... answered');
	$r = mutate([{ op => 'delete_customer', id => $cid }]);
	is_deeply([ topics($r), $r->{webhooks}[0]{payload}{id} ], [ ['customers/delete'], $cid ], 'delete_customer: customers/delete');
	my ($with) = grep { $_->{number_of_orders} > 0 } @$custs;
	my ($st) = mutate_status($D, [{ op => 'delete_customer', id => $with->{customer_id} }]);
	is($st, 400, 'a customer with orders cannot be deleted');
	# an order changed: its customer's figures and updatedAt follow
	$d = ok_data('query C($id: ID!) { customer(id: $id) { lastOrder { id } } }', { id => "gid://shopify/Customer/$with->{customer_id}" });
	my $m = $s->orders_mutate($D, { ops => [{ op => 'refund', order_id => num($d->{data}{customer}{lastOrder}{id}), amount => '1.00' }] });
	my ($c) = grep { $_->{customer_id} == $with->{customer_id} } @{ $s->store_expected($D, 'customers') };
	is(iso_epoch($c->{updated_at}), $m->{ts}, 'a refund of a customer\'s order: the customer\'s updatedAt moves (amountSpent changed)');
}

note(sprintf('%.1f s', time() - $T0));
# -- REST ----------------------------------------------------------------------------------------------------------
{
	my $get = sub { my $r = $s->api($shop->{token}, GET => $_[0]); return ($r, $r->{status} == 200 ? $JSON->decode($r->{content}) : undef) };
	my ($r, $b) = $get->('/admin/api/2026-07/locations.json');
	my $el = $s->store_expected($D, 'locations');
	is_deeply([ map { $_->{id} } @{ $b->{locations} } ], [ map { $_->{location_id} } @$el ], 'REST locations.json: every location');
	my $all = [];
	my $url = '/admin/api/2026-07/customers.json?limit=100';
	my $pages = 0;
	while ($url) {
		($r, $b) = $get->($url);
		push @$all, @{ $b->{customers} };
		$pages++;
		($url) = ($r->{headers}{link} // '') =~ /<https:\/\/[^\/]+([^>]+)>; rel="next"/;
	}
	is_deeply([ map { $_->{id} } @$all ], [ map { $_->{customer_id} } @{ $s->store_expected($D, 'customers') } ],
		"REST customers.json: every customer, paged with Link ($pages pages)");
	my $loc = $el->[0]{location_id};
	($r, $b) = $get->("/admin/api/2026-07/inventory_levels.json?location_ids=$loc&limit=250");
	my $n = grep { $_->{location_id} == $loc } @{ store_rows($D, 'inventory_levels') };
	ok($r->{status} == 200 && @{ $b->{inventory_levels} } == min($n, 250) && ($n <= 250 || $r->{headers}{link} =~ /rel="next"/),
		"REST inventory_levels.json?location_ids=: a page of the location's $n levels");
	($r) = $get->('/admin/api/2026-07/inventory_levels.json');
	is($r->{status}, 422, '... without location_ids or inventory_item_ids: 422');
	($r, $b) = $get->('/admin/api/2026-07/smart_collections.json?limit=250');
	my $cs = store_rows($D, 'collections');
	is(scalar(@{ $b->{smart_collections} }), scalar(grep { $_->{kind} eq 'smart' } @$cs), 'REST smart_collections.json, with rules');
	ok($b->{smart_collections}[0]{rules}[0]{column} =~ /^[a-z_]+$/, '... rules in REST form');
	($r, $b) = $get->('/admin/api/2026-07/custom_collections.json?limit=250');
	is(scalar(@{ $b->{custom_collections} }), scalar(grep { $_->{kind} eq 'custom' } @$cs), 'REST custom_collections.json');
	my ($cc) = grep { $_->{kind} eq 'custom' } @$cs;
	($r, $b) = $get->("/admin/api/2026-07/collects.json?collection_id=$cc->{collection_id}&limit=250");
	is_deeply([ map { $_->{product_id} } sort { $a->{position} <=> $b->{position} } @{ $b->{collects} } ],
		[ map { $_->{product_id} } grep { $_->{collection_id} == $cc->{collection_id} } @{ store_rows($D, 'collection_products') } ],
		'REST collects.json?collection_id=: the collection\'s products, by position');
}

note(sprintf('%.1f s', time() - $T0));
# -- a shop without any of it ----------------------------------------------------------------------------------
{
	my $d = gql('{ locations(first: 5) { nodes { id } } locationsCount { count } collections(first: 5) { nodes { id } } '
		. 'customers(first: 5) { nodes { id } } shop { metafields(first: 5) { nodes { id } } } '
		. 'products(first: 1, sortKey: UPDATED_AT) { nodes { metafields(first: 3) { nodes { id } } } } }', {}, '2026-07', $P);
	is_deeply($d->{data}, { locations => { nodes => [] }, locationsCount => { count => 0 }, collections => { nodes => [] },
		customers => { nodes => [] }, shop => { metafields => { nodes => [] } }, products => { nodes => [ { metafields => { nodes => [] } } ] } },
		'a shop configured without them: empty connections');
	is_deeply($s->store_expected($P, 'inventory_levels'), [], '... and no expected rows');
}

my $pid = $s->pid;
$s->stop;
ok(!kill(0, $pid), 'stand-in stopped');
note(sprintf('whole test took %.1f s', time() - $T0));
done_testing();
