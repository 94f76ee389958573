# The HTTP client behind our t/lib Test::Nginx::Socket: request building
# and response parsing, without nginx (a local socket server plays the
# peer where sending is tested).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";    # always OUR runner, even if a real one
                                   # is installed
use Test::More;
use IO::Socket::INET;
use Test::Nginx::HTTPClient qw(build_request parse_response send_request
                               parse_request_line parse_more_headers);

sub wire {
    my ($pk, $err) = build_request(@_);
    die $err if $err;
    return join '|', map { $_->{value} } @$pk;
}

# --- building requests ------------------------------------------------------

is wire(packets => ["GET /t\n"]),
    "GET /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    'GET gets HTTP/1.1, Host and Connection: close';

is wire(packets => ["GET"]),
    "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    'a bare method requests /';

is wire(packets => ["HEAD /x HTTP/1.0\n"]),
    "HEAD /x HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    'an explicit protocol version is kept';

is wire(packets => ["POST /t\n  {\"a\":1}\n\n"]),
    "POST /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
    . "Content-Length: 7\r\n\r\n{\"a\":1}",
    'a body is trimmed and gets a Content-Length';

is wire(packets => ["POST /t\nabc"],
        more_headers => "X-A: 1\n# comment\nContent-Type: text/x\n"),
    "POST /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
    . "X-A: 1\r\nContent-Type: text/x\r\nContent-Length: 3\r\n\r\nabc",
    'more_headers come after Host/Connection, comments are dropped';

is wire(packets => ["GET /t\n"],
        more_headers => "Host: example.com\nConnection: keep-alive"),
    "GET /t HTTP/1.1\r\nHost: example.com\r\nConnection: keep-alive\r\n\r\n",
    'Host and Connection from more_headers replace the defaults';

is wire(packets => ["POST /t\n5\r\nhello\r\n0\r\n\r\n"],
        more_headers => "Transfer-Encoding: chunked"),
    "POST /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
    . "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    'a chunked body is sent untouched, without Content-Length';

is wire(packets => ["POST /t\nhello ",
                   { value => "world", delay_before => 0 }]),
    "POST /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
    . "Content-Length: 11\r\n\r\nhello |world",
    'packet boundaries inside the body are kept';

is wire(packets => ["GE", "T /t\n"]),
    "GE|T /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    'packet boundaries inside the request line are kept';

{
    my ($pk, $err) = build_request(packets => ["GET /a /b HTTP/1.1 extra\n"]);
    ok !$pk, 'four words on the request line are refused';
    like $err, qr/bad request line/, '... with a clear error';

    ($pk, $err) = build_request(packets => ["\n\n"]);
    like $err, qr/empty/, 'an empty request is refused';
}

{
    my ($h, $chunked) = parse_more_headers("A: 1\nB:2\n\nC:\n");
    is $h, "A: 1\r\nB: 2\r\nC: \r\n", 'more_headers normalisation';
    ok !$chunked, 'not chunked';
}

# --- parsing responses ------------------------------------------------------

{
    my $r = parse_response("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                           . "X-A: 1\r\nx-a: 2\r\n\r\nhello");
    is $r->code, 200, 'status code';
    is $r->content, 'hello', 'content-length body';
    ok $r->{complete}, 'complete';
    is $r->header('X-A'), '1, 2', 'repeated headers are joined, any case';
    is $r->header('missing'), undef, 'missing header is undef';
    like $r->raw_headers, qr/^x-a: 2\r$/m, 'raw headers kept';
}

{
    my $r = parse_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
                           . "\r\n\r\n5\r\nhello\r\n1;ext=1\r\n!\r\n0\r\n"
                           . "\r\nHTTP/1.1");
    is $r->content, 'hello!', 'chunked body decoded (with extensions)';
    ok $r->{complete}, 'last chunk seen';
    is $r->{left}, 'HTTP/1.1', 'bytes after the response are left over';
}

{
    my $r = parse_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
                           . "\r\n\r\n5\r\nhel");
    ok !$r->{complete}, 'truncated chunked body is incomplete';
    like "@{ $r->{errors} }", qr/truncated/, '... and says so';
}

{
    my $r = parse_response("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
                           . "abc");
    ok !$r->{complete}, 'short content-length body is incomplete';
    is $r->content, 'abc', '... but what arrived is kept';
}

{
    my $r = parse_response("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 "
                           . "Created\r\nContent-Length: 0\r\n\r\n");
    is $r->code, 201, 'interim 100 Continue is skipped';
}

{
    my $r = parse_response("HTTP/1.1 304 Not Modified\r\nContent-Length: "
                           . "99\r\n\r\n");
    ok $r->{complete}, '304 has no body';
    $r = parse_response("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", 1);
    ok $r->{complete}, 'HEAD response has no body';
    $r = parse_response("HTTP/1.0 200 OK\r\n\r\nuntil close");
    is $r->content, 'until close', 'unframed body runs to the end';
    $r = parse_response("garbage");
    is $r->code, undef, 'garbage has no status';
    $r = parse_response("HTTP/1.1 200 OK\r\nA: b\r\n");
    like "@{ $r->{errors} }", qr/incomplete response headers/,
        'incomplete headers are reported';
}

# --- sending ----------------------------------------------------------------

my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                Listen => 5, Proto => 'tcp', ReuseAddr => 1)
    or die "listen: $!";
my $port = $srv->sockport;

# a tiny peer: one child per connection, answering as the path says
my $pid = fork();
die "fork: $!" if !defined $pid;
if ($pid == 0) {
    my @kids;
    for (1 .. 3) {
        my $c = $srv->accept or next;
        my $kid = fork();
        if (defined $kid && $kid == 0) {
            my $req = '';
            while ($req !~ /\r\n\r\n/) {
                my $n = sysread($c, my $buf, 4096);
                last if !$n;
                $req .= $buf;
            }
            if ($req =~ m{^GET /silent}) {
                sleep 2;

            } elsif ($req =~ m{^GET /keep}) {
                print $c "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                sleep 2;

            } else {
                my $body = "you sent " . length($req) . " bytes";
                print $c "HTTP/1.1 200 OK\r\nConnection: close\r\n"
                         . "Content-Length: " . length($body)
                         . "\r\n\r\n$body";
            }
            exit 0;
        }
        push @kids, $kid if $kid;
        close $c;
    }
    waitpid($_, 0) for @kids;
    exit 0;
}
close $srv;

{
    my ($pk) = build_request(packets => ["GET /x\n"]);
    my $r = send_request(addr => '127.0.0.1', port => $port, packets => $pk,
                         timeout => 2);
    ok !$r->{timed_out}, 'answered in time';
    ok $r->{eof}, 'read until the server closed';
    my $res = parse_response($r->{raw});
    is $res->content, 'you sent ' . length($pk->[0]{value}) . ' bytes',
        'request went out whole, response read whole';
}

{
    my ($pk) = build_request(packets => ["GET /silent\n"]);
    my $r = send_request(addr => '127.0.0.1', port => $port, packets => $pk,
                         timeout => 0.3);
    ok $r->{timed_out}, 'no answer: timed out instead of hanging';
    is $r->{raw}, '', 'nothing received';
}

{
    my ($pk) = build_request(packets => ["GET /keep\n"],
                             more_headers => "Connection: keep-alive");
    my $r = send_request(addr => '127.0.0.1', port => $port, packets => $pk,
                         timeout => 2);
    ok !$r->{timed_out}, 'keep-alive: stops once the response is complete';
    is parse_response($r->{raw})->content, 'ok', '... with its body';
}

waitpid($pid, 0);

{
    my $r = send_request(addr => '127.0.0.1', port => $port,
                         packets => [{ value => "GET / HTTP/1.0\r\n\r\n" }],
                         timeout => 1);
    like $r->{error}, qr/cannot connect/, 'connection refused is reported';
}

done_testing();
