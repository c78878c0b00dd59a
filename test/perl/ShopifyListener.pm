# ShopifyListener — helpers for TAP tests of the webhook listener
# (shopify_sync.webhook_listen): deliveries signed and sent as Shopify sends
# them, raw requests over a socket, and nginx in front with TLS.  Core Perl
# modules only; nginx and openssl from Debian.
package ShopifyListener;

use strict;
use warnings;

use Digest::SHA qw(hmac_sha256_base64);
use Exporter 'import';
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(time usleep);

our @EXPORT = qw(sign_body delivery_request raw_request deliver_http
  start_nginx stop_nginx make_cert);

# base64(HMAC-SHA256(secret, body)) as X-Shopify-Hmac-Sha256 carries it
sub sign_body
{
	my ($secret, $body) = @_;
	my $s = hmac_sha256_base64($body, $secret);
	$s .= '=' while length($s) % 4;
	return $s;
}

# The bytes of one delivery: %o topic, domain, secret (or sig), webhook_id,
# triggered_at, method, path, extra (more header lines), chunked,
# keep_alive, no_sig.
sub delivery_request
{
	my ($body, %o) = @_;
	my $method = $o{method} // 'POST';
	my $path = $o{path} // '/shopify/webhooks';
	my @h = ("Host: 127.0.0.1");
	push @h, "X-Shopify-Topic: $o{topic}" if defined $o{topic};
	push @h, "X-Shopify-Shop-Domain: $o{domain}" if defined $o{domain};
	my $sig = $o{sig} // (defined $o{secret} ? sign_body($o{secret}, $body) : undef);
	push @h, "X-Shopify-Hmac-Sha256: $sig" if defined $sig && !$o{no_sig};
	push @h, "X-Shopify-Webhook-Id: $o{webhook_id}" if defined $o{webhook_id};
	push @h, "X-Shopify-Triggered-At: $o{triggered_at}" if defined $o{triggered_at};
	push @h, "X-Shopify-Api-Version: 2026-07", "Content-Type: application/json";
	push @h, @{ $o{extra} } if $o{extra};
	push @h, "Connection: close" unless $o{keep_alive};
	if ($o{chunked})
	{
		my $c = '';
		for (my $i = 0; $i < length($body); $i += 1000)
		{
			my $piece = substr($body, $i, 1000);
			$c .= sprintf("%x\r\n%s\r\n", length($piece), $piece);
		}
		return "$method $path HTTP/1.1\r\n" . join("\r\n", @h, 'Transfer-Encoding: chunked') . "\r\n\r\n$c" . "0\r\n\r\n";
	}
	return "$method $path HTTP/1.1\r\n" . join("\r\n", @h, 'Content-Length: ' . length($body)) . "\r\n\r\n$body";
}

# Send raw bytes to 127.0.0.1:$port and read the answer.  %o: timeout (s,
# default 10), half_close (shutdown the writing side after sending), pieces
# and delay (send in pieces with a pause between them).  Returns a hash:
# status (undef when none came), headers (lower-case names), body, closed
# (the server closed the connection), seconds, raw.
sub raw_request
{
	my ($port, $bytes, %o) = @_;
	my $t0 = time;
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp', Timeout => 5)
	  or return { error => "connect: $!", seconds => time - $t0 };
	setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);
	local $SIG{PIPE} = 'IGNORE';
	my @pieces = $o{pieces} ? @{ $o{pieces} } : ($bytes);
	for my $i (0 .. $#pieces)
	{
		last unless defined syswrite($s, $pieces[$i]);
		usleep(int(($o{delay} // 0) * 1e6)) if $o{delay} && $i < $#pieces;
	}
	shutdown($s, 1) if $o{half_close};
	my $sel = IO::Select->new($s);
	my $raw = '';
	my $deadline = time + ($o{timeout} // 10);
	my $closed = 0;
	while (time < $deadline)
	{
		last unless $sel->can_read($deadline - time);
		my $n = sysread($s, my $buf, 65536);
		if (!$n) { $closed = 1; last; }
		$raw .= $buf;
		# a complete answer with its Content-Length
		(my $x = $raw) =~ s/\AHTTP\/1\.1 100 Continue\r\n\r\n//;
		if ($x =~ /\A(HTTP\/1\.[01] \d{3}[^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n)/)
		{
			my $hl = length($1);
			my ($cl) = $1 =~ /\r\ncontent-length: *(\d+)/i;
			last if defined $cl && length($x) >= $hl + $cl && !$o{read_to_close};
		}
	}
	close($s);
	my %r = (raw => $raw, closed => $closed, seconds => time - $t0);
	$raw =~ s/\AHTTP\/1\.1 100 Continue\r\n\r\n//;
	if ($raw =~ /\AHTTP\/1\.[01] (\d{3})[^\r\n]*\r\n((?:[^\r\n]+\r\n)*)\r\n(.*)\z/s)
	{
		$r{status} = $1;
		$r{body} = $3;
		for my $line (split /\r\n/, $2)
		{
			$r{headers}{ lc $1 } = $2 if $line =~ /^([^:]+):\s*(.*)$/;
		}
	}
	return \%r;
}

# One delivery over HTTP; returns raw_request's hash.
sub deliver_http
{
	my ($port, $body, %o) = @_;
	return raw_request($port, delivery_request($body, %o), timeout => $o{timeout} // 15);
}

# A throw-away self-signed certificate for 127.0.0.1 in $dir (cert.pem, key.pem).
sub make_cert
{
	my ($dir) = @_;
	system('openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
		'-nodes', '-keyout', "$dir/key.pem", '-out', "$dir/cert.pem", '-days', '1',
		'-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost') == 0
	  or die "openssl req failed";
	system('openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
		'-nodes', '-keyout', "$dir/other-key.pem", '-out', "$dir/other-cert.pem", '-days', '1',
		'-subj', '/CN=127.0.0.1') == 0
	  or die "openssl req failed";
	return ("$dir/cert.pem", "$dir/key.pem");
}

# nginx as this (non-root) user, in its own prefix $dir, TLS on 127.0.0.1:$port,
# proxying POST /shopify/webhooks to the listener on $upstream_port (the
# README's configuration).  Returns the pid (from its pid file).
sub start_nginx
{
	my ($dir, $port, $upstream_port, $cert, $key) = @_;
	mkdir "$dir/tmp";
	open(my $fh, '>', "$dir/nginx.conf") or die "$dir/nginx.conf: $!";
	print $fh <<"EOF";
daemon on;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 256; }
http {
    access_log $dir/access.log;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;

    upstream shopify_sync_webhooks {
        server 127.0.0.1:$upstream_port;
        keepalive 16;
    }
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate     $cert;
        ssl_certificate_key $key;

        location = /shopify/webhooks {
            proxy_pass http://shopify_sync_webhooks;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            client_max_body_size 16m;
            proxy_read_timeout 30s;
        }
        location / { return 404; }
    }
}
EOF
	close($fh);
	my $nginx = -x '/usr/sbin/nginx' ? '/usr/sbin/nginx' : 'nginx';
	system($nginx, '-p', $dir, '-c', "$dir/nginx.conf", '-e', "$dir/error.log") == 0
	  or die "nginx did not start: " . `cat $dir/error.log`;
	for (1 .. 100)
	{
		if (-s "$dir/nginx.pid")
		{
			open(my $p, '<', "$dir/nginx.pid") or die;
			my $pid = <$p>;
			close($p);
			chomp $pid;
			return $pid if $pid =~ /^\d+$/;
		}
		usleep(50_000);
	}
	die "nginx wrote no pid file";
}

# Stop nginx by its pid; waits until it is gone.
sub stop_nginx
{
	my ($pid) = @_;
	return unless $pid;
	kill 'QUIT', $pid;
	for (1 .. 100)
	{
		return 1 unless kill 0, $pid;
		usleep(50_000);
	}
	kill 'KILL', $pid;
	return 0;
}

1;
