package ShopifyStandin;

# Start/stop/steer the Shopify Admin API stand-in (test/standin/shopify_standin.py)
# from TAP tests.  Core Perl modules only.
#
#   use ShopifyStandin;
#   my $s = ShopifyStandin->start(config => { shops => [ShopifyStandin::make_shop(
#               domain => 'alpha.myshopify.com', products => 500)] }, dir => $dir);
#   $s->base_url;                                   # http://127.0.0.1:PORT
#   $s->control(POST => '/_control/faults', { next => 1, kinds => ['503'] });
#   my $rows = $s->expected('alpha.myshopify.com', 'rest');
#   my ($data, $res) = $s->graphql($token, 'query ShopifySyncShop { shop { name } }');
#   $s->set_bulk('alpha.myshopify.com', { delay_s => 1 });
#   $s->inject('alpha.myshopify.com', { path_prefix => '/admin/api/2026-07/products.json',
#       bodies => [ ShopifyStandin::b64("\xff") ] });      # crafted answers
#   $s->stop;   # also done by DESTROY and at END

use strict;
use warnings;

use Carp qw(croak);
use Cwd qw(abs_path);
use Digest::MD5 qw(md5_hex);
use File::Basename qw(dirname);
use File::Path qw(make_path);
use File::Temp ();
use HTTP::Tiny;
use JSON::PP;
use POSIX qw(WNOHANG);
use Scalar::Util qw(weaken);
use Socket ();
use Time::HiRes qw(time sleep);

# HTTP::Tiny writes a request's headers and its body in two writes: with
# Nagle on, the body waits for the ACK of the headers, which the server
# delays (about 40 ms per POST).  Send at once.
{
	no warnings 'redefine';
	my $connect = \&HTTP::Tiny::Handle::connect;
	*HTTP::Tiny::Handle::connect = sub {
		my $h = $connect->(@_);
		setsockopt($h->{fh}, Socket::IPPROTO_TCP(), Socket::TCP_NODELAY(), 1) if $h && $h->{fh};
		return $h;
	};
}

our $PYTHON = $ENV{SHOPIFY_STANDIN_PYTHON} // '/usr/bin/python3';
our $SCRIPT = $ENV{SHOPIFY_STANDIN_SCRIPT}
  // abs_path(dirname(abs_path(__FILE__)) . '/../standin/shopify_standin.py');
# The stand-in's GraphQL oracle (Node.js, graphql-js, Shopify's schemas): by
# default the stand-in finds it in ../graphql next to its own folder, i.e.
# test/graphql (scripts/install-node-deps.sh installs what it needs).
our $GRAPHQL_DIR = $ENV{SHOPIFY_STANDIN_GRAPHQL_DIR};
our $ID_BASE0 = 5_000_000_000;     # > 2^32 on purpose: ids must be bigint
our $ID_STEP  = 1_000_000_000;

my %LIVE;          # pid => weakened object, for the END block
my $SHOP_SEQ = 0;  # make_shop counter (unique id_base / seed per shop)
my $JSON = JSON::PP->new->utf8->canonical;

sub _slurp {
	my ($f) = @_;
	open(my $fh, '<', $f) or return '';
	local $/;
	my $c = <$fh>;
	return $c // '';
}

sub start {
	my ($class, %a) = @_;
	my $dir = $a{dir} // File::Temp::tempdir('standin-XXXXXX', TMPDIR => 1, CLEANUP => 1);
	make_path($dir) unless -d $dir;
	my $config = $a{config} // { shops => [] };
	my $cfg_file  = "$dir/standin-config.json";
	my $port_file = "$dir/standin.port";
	my $log       = $a{log} // "$dir/standin.log";
	open(my $fh, '>', $cfg_file) or croak "write $cfg_file: $!";
	print $fh JSON::PP->new->utf8->canonical->pretty->encode($config);
	close $fh;
	unlink $port_file;

	-f $SCRIPT or croak "stand-in script not found: $SCRIPT";
	my @cmd = ($PYTHON, $SCRIPT, '--port', $a{port} // 0, '--port-file', $port_file,
		'--config', $cfg_file, '--max-lifetime', $a{max_lifetime} // 1800,
		($a{verbose} ? ('--verbose') : ()),
		(defined $a{idle_timeout} ? ('--idle-timeout', $a{idle_timeout}) : ()),
		($a{tls_cert} ? ('--tls-cert', $a{tls_cert}, '--tls-key', $a{tls_key}) : ()),
		(($a{graphql_dir} // $GRAPHQL_DIR) ? ('--graphql-dir', $a{graphql_dir} // $GRAPHQL_DIR) : ()));
	my $pid = fork();
	croak "fork: $!" unless defined $pid;
	if ($pid == 0) {
		open(STDIN, '<', '/dev/null');
		open(STDOUT, '>>', $log) or POSIX::_exit(126);
		open(STDERR, '>&', \*STDOUT) or POSIX::_exit(126);
		exec(@cmd) or POSIX::_exit(127);
	}
	my $self = bless {
		pid => $pid, owner => $$, dir => $dir, log => $log, port_file => $port_file,
		config_file => $cfg_file,
		http => HTTP::Tiny->new(timeout => $a{http_timeout} // 120, keep_alive => 1,
			agent => 'ShopifyStandin.pm'),
	}, $class;
	$LIVE{$pid} = $self;
	weaken($LIVE{$pid});

	my $deadline = time() + ($a{timeout} // 15);
	while (1) {
		if (-s $port_file) {
			my $p = _slurp($port_file);
			if ($p =~ /^(\d+)\s*$/) { $self->{port} = $1; last; }
		}
		my $r = waitpid($pid, WNOHANG);
		if ($r == $pid) {
			my $st = $?;
			delete $self->{pid};
			delete $LIVE{$pid};
			croak "shopify stand-in exited during startup (wait status $st); log $log:\n"
			  . _slurp($log);
		}
		if (time() > $deadline) {
			$self->stop;
			croak "shopify stand-in did not write $port_file within "
			  . ($a{timeout} // 15) . " s; log $log:\n" . _slurp($log);
		}
		sleep(0.05);
	}
	return $self;
}

sub port     { $_[0]{port} }
sub pid      { $_[0]{pid} }
sub dir      { $_[0]{dir} }
sub log_file { $_[0]{log} }
sub log_contents { _slurp($_[0]{log}) }
sub base_url { 'http://127.0.0.1:' . $_[0]{port} }

# Control API call: decoded JSON; dies on non-2xx.
sub control {
	my ($self, $method, $path, $body) = @_;
	my %opt = (headers => { 'Content-Type' => 'application/json' });
	$opt{content} = $JSON->encode($body) if defined $body;
	my $res = $self->{http}->request($method, $self->base_url . $path, \%opt);
	croak "stand-in control $method $path failed: $res->{status} $res->{reason}: "
	  . ($res->{content} // '')
	  unless $res->{success};
	return $JSON->decode($res->{content});
}

# Raw API request as a client would send it: HTTP::Tiny response hashref.
sub api {
	my ($self, $token, $method, $path, %o) = @_;
	my $http = $o{http} // $self->{http};
	my %h = %{ $o{headers} // {} };
	$h{'X-Shopify-Access-Token'} = $token if defined $token;
	return $http->request($method, $self->base_url . $path, { headers => \%h,
		(defined $o{content} ? (content => $o{content}) : ()) });
}

sub _d { my $d = shift; $d =~ s/([^A-Za-z0-9.\-_~])/sprintf('%%%02X', ord $1)/ge; $d }

sub expected {
	my ($self, $domain, $api) = @_;
	$api //= 'rest';
	return $self->control(GET => '/_control/shops/' . _d($domain) . "/expected?api=$api")->{rows};
}
sub deleted     { $_[0]->control(GET  => '/_control/shops/' . _d($_[1]) . '/deleted') }
sub mutate      { $_[0]->control(POST => '/_control/shops/' . _d($_[1]) . '/mutate', $_[2]) }
sub set_bucket  { $_[0]->control(POST => '/_control/shops/' . _d($_[1]) . '/bucket', $_[2]) }
sub set_token   { $_[0]->control(POST => '/_control/shops/' . _d($_[1]) . '/token', { token => $_[2] }) }
sub shop_info   { $_[0]->control(GET  => '/_control/shops/' . _d($_[1])) }
sub add_shop    { $_[0]->control(POST => '/_control/shops', $_[1]) }
sub faults      { $_[0]->control(POST => '/_control/faults', $_[1]) }
sub clear_faults { $_[0]->control(POST => '/_control/faults', { rate => 0 }) }
sub stats       { $_[0]->control(GET  => '/_control/stats') }
sub shop_stats  { $_[0]->control(GET  => '/_control/stats')->{shops}{ $_[1] } }
sub reset_stats { $_[0]->control(POST => '/_control/stats/reset', {}) }
sub set_graphql { $_[0]->control(POST => '/_control/shops/' . _d($_[1]) . '/graphql', $_[2]) }
sub graphql_bucket { $_[0]->control(GET => '/_control/shops/' . _d($_[1]) . '/graphql')->{graphql} }
sub set_bulk    { $_[0]->control(POST => '/_control/shops/' . _d($_[1]) . '/bulk', $_[2]) }
sub bulk_info   { $_[0]->control(GET  => '/_control/shops/' . _d($_[1]) . '/bulk') }

# Orders (shop config key "orders", see test/standin/README.md).
#   $s->orders_expected($domain)        -> { orders => [...], lines => [...] }
#   $s->orders_stats($domain[, $now])   -> figures per the README definitions;
#                                          $now (epoch) pins "last 30 days"
#   $s->orders_mutate($domain, { create => 2, update => 3, cancel => 1, refund => 1, seed => 7 })
#   $s->order($domain, $id)             -> the REST JSON of one order (webhook bodies)
sub orders_expected { $_[0]->control(GET => '/_control/shops/' . _d($_[1]) . '/orders_expected') }
sub orders_stats {
	my ($self, $domain, $now) = @_;
	return $self->control(GET => '/_control/shops/' . _d($domain) . '/orders_stats'
		  . (defined $now ? '?now=' . _d($now) : ''));
}
sub orders_mutate { $_[0]->control(POST => '/_control/shops/' . _d($_[1]) . '/orders_mutate', $_[2]) }
sub order { $_[0]->control(GET => '/_control/shops/' . _d($_[1]) . '/orders/' . (0 + $_[2]))->{order} }
# draft orders (a connection for declared resources): every live one with its lines,
# and changes ({ add => n, update => [gids], delete => [gids] })
sub draft_orders { $_[0]->control(GET => '/_control/shops/' . _d($_[1]) . '/draft_orders')->{draft_orders} }
sub change_draft_orders { $_[0]->control(POST => '/_control/shops/' . _d($_[1]) . '/draft_orders', $_[2]) }

# The rest of the store (shop config keys locations, inventory, collections,
# metafields, customers; test/standin/README.md, "The rest of the store"):
#   $s->store_expected($domain, 'inventory_levels')          -> [ rows a correct mirror holds ]
#   $s->store_expected($domain, 'metafields', owner_type => 'variant')
#   $s->store_mutate($domain, [ { op => 'set_level', item => $i, location => $l, available => 5 } ])
#       -> { ts, updated_at, results => [ { op, webhooks => [ { topic, payload } ], ... } ],
#            webhooks => [ every op's ] }
#   $s->store_info($domain)                                   -> counts, metafield types
sub store_expected {
	my ($self, $domain, $table, %opt) = @_;
	my $q = 'table=' . _d($table) . join('', map { '&' . _d($_) . '=' . _d($opt{$_}) } sort keys %opt);
	return $self->control(GET => '/_control/shops/' . _d($domain) . "/store_expected?$q")->{rows};
}
sub store_mutate { $_[0]->control(POST => '/_control/shops/' . _d($_[1]) . '/store_mutate', { ops => $_[2] }) }
sub store_info { $_[0]->control(GET => '/_control/shops/' . _d($_[1]) . '/store') }

# Crafted answers (test/standin/README.md, "Crafted answers"): the next
# matching API answers of a shop get other bytes, or edits of the real JSON.
#   $s->inject($domain, { path_prefix => '/admin/api/2026-07/products.json', skip => 1,
#       responses => [{ edits => [{ path => 'products.0.variants.0.price', value => { a => 1 } }] }] });
#   $s->inject($domain, { path_prefix => ..., bodies => [ ShopifyStandin::b64("[1,2]") ] });
#   $s->injections($domain)        -> [ { id, served, remaining, errors, ... } ]
#   $s->clear_injections($domain)
# Bytes (invalid UTF-8, NUL) travel base64-encoded: b64($bytes).
sub inject { $_[0]->control(POST => '/_control/shops/' . _d($_[1]) . '/inject', $_[2])->{rule} }
sub injections { $_[0]->control(GET => '/_control/shops/' . _d($_[1]) . '/inject')->{rules} }
sub clear_injections { $_[0]->control(POST => '/_control/shops/' . _d($_[1]) . '/inject', { clear => JSON::PP::true }) }
sub b64 { require MIME::Base64; return MIME::Base64::encode_base64($_[0], '') }

our $API_VERSION = '2026-07';

# GraphQL request as the client sends it.  In list context returns
# ($decoded_json_or_undef, $http_tiny_response) -- the response has {status}
# and {headers}; in scalar context only the decoded body.
#   my ($d, $res) = $s->graphql($token, $query, { first => 50 }, version => '2026-07');
sub graphql {
	my ($self, $token, $query, $variables, %o) = @_;
	my $body = { query => $query };
	$body->{variables} = $variables if defined $variables;
	my $res = $self->api($token, POST => '/admin/api/' . ($o{version} // $API_VERSION)
		  . '/graphql.json',
		headers => { 'Content-Type' => 'application/json' },
		content => $o{raw_body} // $JSON->encode($body), http => $o{http});
	my $json = eval { $JSON->decode($res->{content}) };
	return wantarray ? ($json, $res) : $json;
}

# TERM by pid, KILL after 5 s.  Only the process that started it stops it
# (a forked child's DESTROY must not kill the parent's stand-in).
sub stop {
	my ($self) = @_;
	return unless $self->{pid} && $self->{owner} == $$;
	local ($?, $!);
	my $pid = delete $self->{pid};
	delete $LIVE{$pid};
	kill('TERM', $pid);
	my $deadline = time() + 5;
	my $reaped = 0;
	while (time() < $deadline) {
		my $r = waitpid($pid, WNOHANG);
		if ($r == $pid || $r == -1) { $reaped = 1; last; }
		sleep(0.05);
	}
	unless ($reaped) {
		kill('KILL', $pid);
		waitpid($pid, 0);
	}
	return 1;
}

sub DESTROY { local ($@, $!, $?); $_[0]->stop if $_[0]{pid}; }

END {
	local $?;
	for my $s (values %LIVE) { $s->stop if $s; }
}

# Config hash for one shop with sensible defaults; every call gets a unique
# id_base (ids > 2^32) and seed.  Pass bucket => undef to disable rate limits,
# graphql => { maximum => 2000, restore => 100 } (or undef) for the GraphQL cost bucket,
# orders => { count => 500, seed => 1 } for generated orders; locations, inventory,
# collections, metafields, customers for the rest of the store.
sub make_shop {
	my %a = @_;
	my $k = $SHOP_SEQ++;
	my $domain = $a{domain} // "shop$k.myshopify.com";
	(my $slug = $domain) =~ s/\..*//;
	my $token = $a{token} // ('shpat_' . md5_hex("standin:$domain"));   # 38 chars
	my %cat = (
		products     => $a{products} // 100,
		variants_min => $a{variants_min} // 1,
		variants_max => $a{variants_max} // 8,
		big_products => $a{big_products} // [],
		seed         => $a{seed} // ($k + 1),
		awkward      => (($a{awkward} // 1) ? JSON::PP::true : JSON::PP::false),
		drafts       => $a{drafts} // 0.05,
		archived     => $a{archived} // 0.03,
	);
	my %shop = (
		domain    => $domain,
		token     => $token,
		name      => $a{name} // (ucfirst($slug) . ' Store'),
		currency  => $a{currency} // 'USD',
		plan_name => $a{plan_name} // 'basic',
		catalog   => \%cat,
		bucket    => exists $a{bucket} ? $a{bucket} : { size => 40, leak => 2.0 },
		id_base   => $a{id_base} // ($ID_BASE0 + $k * $ID_STEP),
	);
	$shop{utc_offset_minutes} = $a{utc_offset_minutes} if defined $a{utc_offset_minutes};
	$shop{graphql} = $a{graphql} if exists $a{graphql};   # cost bucket; undef = off
	$shop{orders} = $a{orders} if $a{orders};     # { count => N, seed => s, ... }
	$shop{draft_orders} = $a{draft_orders} if $a{draft_orders};   # { count => N, seed => s, lines_max => k }
	# the rest of the store: locations => { count => 10, inactive => 1 },
	# inventory => { locations_per_item => [1, 10] }, collections => { count => 50, smart => 0.3 },
	# metafields => { per_product => [0, 4], ..., shop => 12 }, customers => { count => 1000 }
	for my $k (qw(locations inventory collections metafields customers)) {
		$shop{$k} = $a{$k} if $a{$k};
	}
	return \%shop;
}

1;
