package Test::Nginx::HTTPClient;

# The HTTP/1.x client of our Test::Nginx::Socket-compatible runner: turns
# "--- request" style specs into wire bytes, sends them over a plain
# IO::Socket::INET connection with a per-I/O timeout, and parses what comes
# back (status, headers, chunked or content-length bodies).
#
# Nothing here knows about Test::More; failures are reported as data
# (error / timed_out fields) so the caller can turn them into test results.

use strict;
use warnings;

use Errno qw(EAGAIN EWOULDBLOCK EINTR EINPROGRESS ECONNREFUSED);
use IO::Select ();
use IO::Socket::INET ();
use Socket qw(SOL_SOCKET SO_ERROR);
use Time::HiRes qw(sleep time);

use Exporter 'import';
our @EXPORT_OK = qw(parse_request_line parse_more_headers build_request
                    send_request parse_response);

# Split a "--- request" value into its request line parts and content,
# following Test::Nginx: "METHOD [URL [VERSION]]" on the first line,
# everything after the first newline is the request body.
sub parse_request_line {
    my ($text) = @_;

    my ($first, $content);
    if ($text =~ /\A([^\n]*\n?)(.*)\z/s) {
        ($first, $content) = ($1, $2);
    }

    if (!defined $first || $first !~ /\S/) {
        return (undef, "request line is empty");
    }

    if ($first !~ /\A(\s*)(\S+)( *)(?:(\S+)( *))?(?:(\S+)( *))?(\s*)\z/) {
        (my $shown = $first) =~ s/\s+\z//;
        return (undef, "bad request line \"$shown\": expected "
                       . "\"METHOD [URI [HTTP/x.y]]\"");
    }

    return {
        lead    => length($1),
        method  => $2,
        url     => defined $4 ? $4 : '/',
        version => defined $6 ? $6 : 'HTTP/1.1',
        first_len => length($first),
        content => $content,
    };
}

# "--- more_headers": one "Name: value" per line, "#" lines are comments.
# Returns the header block (CRLF terminated lines) and whether the request
# body is sent chunked (then the body is passed through untouched).
sub parse_more_headers {
    my ($text) = @_;

    my $out = '';
    my $chunked = 0;

    for my $line (split /\n+/, defined $text ? $text : '') {
        $line =~ s/\r\z//;
        next if $line =~ /^\s*#/;
        next if $line !~ /\S/;

        my ($key, $val) = split /:\s*/, $line, 2;
        $val = '' if !defined $val;

        if (lc($key) eq 'transfer-encoding' && $val =~ /^\s*chunked\s*$/i) {
            $chunked = 1;
        }

        $out .= "$key: $val\r\n";
    }

    return ($out, $chunked);
}

# Build the bytes of one request from its packets (strings or
# { value => ..., delay_before => ... } hashes), adding Host, Connection
# and Content-Length headers the way Test::Nginx::Socket does.
# Returns (\@packets, undef) or (undef, $error).
sub build_request {
    my (%args) = @_;

    my $packets = $args{packets};
    my $conn = $args{connection} || 'close';
    my $host = $args{host} || 'localhost';
    my ($hdrs, $chunked) = parse_more_headers($args{more_headers});

    my @values = map { ref $_ ? $_->{value} : $_ } @$packets;
    for my $v (@values) {
        $v = '' if !defined $v;
    }

    my $full = join '', @values;

    my ($req, $err) = parse_request_line($full);
    return (undef, $err) if !$req;

    my $content = $req->{content};
    my $lead_trim = 0;
    my $len_header = '';

    if (!$chunked && $content ne ''
        && $hdrs !~ /(?:^|\n)Content-Length:/i)
    {
        # Test::Nginx trims the body before counting it
        if ($content =~ /\A(\s+)/) {
            $lead_trim = length $1;
        }
        $content =~ s/^\s+|\s+$//gs;
        $len_header = "Content-Length: " . length($content) . "\r\n";
    }

    my $line = "$req->{method} $req->{url} $req->{version}\r\n";

    my $headers = '';
    if ($hdrs !~ /(?:^|\n)Host:/i) {
        $headers .= "Host: $host\r\n";
    }
    if ($hdrs !~ /(?:^|\n)Connection/i) {
        $headers .= "Connection: $conn\r\n";
    }
    $headers .= "$hdrs$len_header\r\n";

    my $wire = $line . $headers . $content;

    if (@values == 1) {
        return ([ _packet($packets->[0], $wire) ], undef);
    }

    # Keep the caller's packet boundaries: a boundary inside the request
    # line stays inside it, one inside the body stays at the same body
    # offset (after the leading whitespace Test::Nginx strips).
    my @cuts;
    my $off = 0;
    for my $i (0 .. $#values - 1) {
        $off += length $values[$i];
        my $cut;
        if ($off < $req->{first_len}) {
            $cut = $off - $req->{lead};
            $cut = 0 if $cut < 0;
            $cut = length($line) - 2 if $cut > length($line) - 2;

        } else {
            my $c = $off - $req->{first_len} - $lead_trim;
            $c = 0 if $c < 0;
            $c = length $content if $c > length $content;
            $cut = length($line) + length($headers) + $c;
        }
        push @cuts, $cut;
    }

    my @out;
    my $prev = 0;
    for my $i (0 .. $#values) {
        my $end = $i < @cuts ? $cuts[$i] : length $wire;
        $end = $prev if $end < $prev;
        push @out, _packet($packets->[$i], substr($wire, $prev, $end - $prev));
        $prev = $end;
    }

    return (\@out, undef);
}

sub _packet {
    my ($orig, $value) = @_;

    my %p = (value => $value);
    if (ref $orig eq 'HASH' && defined $orig->{delay_before}) {
        $p{delay_before} = $orig->{delay_before};
    }
    return \%p;
}

# Send packets to addr:port and read the answer.
#   timeout      seconds allowed between two I/O events (like Test::Nginx)
#   middle_delay seconds to sleep between packets without delay_before
#   shutdown     if defined, shutdown() the socket that way after writing
#   retry_refused  retry a refused connection a few times (nginx is just
#                up), unless server_alive (a code ref) says it is gone
#   responses    number of responses expected (pipelining); reading stops
#                early only when they are all complete and the server did
#                not announce it would close the connection
# Returns { raw => bytes, timed_out => bool, error => string|undef,
#           connect_error => bool }.
sub send_request {
    my (%args) = @_;

    my $timeout = $args{timeout} || 3;
    my @packets = @{ $args{packets} };
    my $expect = $args{responses} || 1;

    local $SIG{PIPE} = 'IGNORE';

    my $res = { raw => '', timed_out => 0, error => undef };

    my ($sock, $err);
    my $tries = $args{connect_tries} || 8;
    for my $try (1 .. $tries) {
        ($sock, $err) = _connect($args{addr}, $args{port}, $timeout);
        last if $sock;
        last if !$args{retry_refused} || $err !~ /refused/i;
        last if $args{server_alive} && !$args{server_alive}->();
        sleep 0.05 * $try;
    }

    if (!$sock) {
        $res->{error} = "cannot connect to $args{addr}:$args{port}: $err";
        $res->{connect_error} = 1;
        return $res;
    }

    my $sel = IO::Select->new($sock);
    my $pkt = shift @packets;
    my $wbuf = $pkt->{value};
    my $woff = 0;
    my $writing = 1;
    my $eof = 0;

    while (1) {
        if ($writing && $woff >= length $wbuf) {
            if (@packets) {
                $pkt = shift @packets;
                my $delay = defined $pkt->{delay_before}
                            ? $pkt->{delay_before} : $args{middle_delay};
                sleep $delay if $delay;
                $wbuf = $pkt->{value};
                $woff = 0;
                next;
            }

            $writing = 0;
            if (defined $args{shutdown}) {
                shutdown($sock, $args{shutdown});
            }
        }

        my ($r, $w) = IO::Select->select($sel, $writing ? $sel : undef,
                                         undef, $timeout);

        if (!$r && !$w) {
            next if $! == EINTR && !defined $r;
            $res->{timed_out} = 1;
            last;
        }

        if ($w && @$w) {
            my $n = syswrite($sock, $wbuf, length($wbuf) - $woff, $woff);
            if (defined $n) {
                $woff += $n;

            } elsif ($! != EAGAIN && $! != EWOULDBLOCK && $! != EINTR) {
                # the server may have answered and closed early (e.g. 413)
                $res->{write_error} = "write failed: $!";
                $writing = 0;
            }
        }

        if ($r && @$r) {
            my $n = sysread($sock, my $buf, 65536);
            if (!defined $n) {
                next if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
                $res->{read_error} = "read failed: $!";
                last;
            }

            if ($n == 0) {
                $eof = 1;
                last;
            }

            $res->{raw} .= $buf;

            if (!$writing && _responses_complete($res->{raw}, $expect,
                                                 $args{head}))
            {
                last;
            }
        }
    }

    close $sock;
    $res->{eof} = $eof;
    return $res;
}

sub _connect {
    my ($addr, $port, $timeout) = @_;

    my $sock = IO::Socket::INET->new(
        PeerAddr => $addr,
        PeerPort => $port,
        Proto    => 'tcp',
        Timeout  => $timeout,
    );

    return (undef, $@ || $!) if !$sock;

    $sock->blocking(0);
    binmode $sock;
    return ($sock, undef);
}

# True when $expect complete responses are in $raw and the last one does
# not say the server will close the connection (then we read to EOF, which
# also guarantees nginx has finished its log phase).
sub _responses_complete {
    my ($raw, $expect, $head) = @_;

    my $rest = $raw;
    my $last;
    for (1 .. $expect) {
        my $res = parse_response($rest, $head);
        return 0 if !$res->{complete};
        $last = $res;
        $rest = defined $res->{left} ? $res->{left} : '';
    }

    my $conn = $last->header('Connection');
    return 0 if defined $conn && $conn =~ /close/i;
    return 0 if $last->{version} && $last->{version} eq 'HTTP/1.0'
                && !(defined $conn && $conn =~ /keep-alive/i);
    return 1;
}

# Parse one response from the front of $raw. Interim 1xx answers (other
# than 101) are skipped. Returns a Test::Nginx::HTTPClient::Response with
#   code, status_line, raw_headers, content, left (bytes after it),
#   complete (framing satisfied), errors (list of framing problems).
sub parse_response {
    my ($raw, $head) = @_;

    my $res = bless {
        code => undef, status_line => '', raw_headers => '',
        headers => [], content => '', left => undef,
        complete => 0, errors => [],
    }, 'Test::Nginx::HTTPClient::Response';

    $raw = '' if !defined $raw;

    while (1) {
        my ($hdr_end, $sep_len);
        if ($raw =~ /\r?\n\r?\n/g) {
            $hdr_end = $-[0];
            $sep_len = $+[0] - $-[0];
        }

        if (!defined $hdr_end) {
            # headers incomplete: keep what we have for diagnostics
            $res->{raw_headers} = $raw;
            if ($raw =~ m{\AHTTP/\d\.\d\s+(\d{3})}) {
                $res->{code} = $1;
            }
            push @{ $res->{errors} }, "incomplete response headers"
                if length $raw;
            return $res;
        }

        my $head_text = substr($raw, 0, $hdr_end);
        my $body = substr($raw, $hdr_end + $sep_len);
        my @lines = split /\r?\n/, $head_text;
        my $status = shift @lines;
        $status = '' if !defined $status;

        if ($status =~ m{\A(HTTP/\d\.\d)\s+(\d{3})(?:\s+(.*))?\z}) {
            $res->{version} = $1;
            $res->{code} = $2;
            $res->{reason} = defined $3 ? $3 : '';

        } else {
            push @{ $res->{errors} }, "bad status line \"$status\"";
        }

        if (defined $res->{code} && $res->{code} =~ /^1\d\d$/
            && $res->{code} != 101)
        {
            $raw = $body;
            $res->{code} = undef;
            next;
        }

        $res->{status_line} = $status;
        $res->{raw_headers} = $head_text . "\r\n";

        for my $l (@lines) {
            if ($l =~ /\A([^:\s]+)\s*:\s*(.*?)\s*\z/) {
                push @{ $res->{headers} }, [$1, $2];
            }
        }

        _frame_body($res, $body, $head);
        return $res;
    }
}

sub _frame_body {
    my ($res, $body, $head) = @_;

    my $code = $res->{code} || 0;

    if ($head || $code == 204 || $code == 304 || $code == 101) {
        $res->{content} = '';
        $res->{left} = $body if length $body;
        $res->{complete} = 1;
        return;
    }

    my $te = $res->header('Transfer-Encoding');
    my $len = $res->header('Content-Length');

    if (defined $te && $te =~ /chunked/i) {
        my $decoded = '';
        my $pos = 0;

        while (1) {
            my $nl = index($body, "\n", $pos);
            if ($nl < 0) {
                push @{ $res->{errors} },
                    "chunked body ended without the last chunk";
                last;
            }

            my $size_line = substr($body, $pos, $nl - $pos);
            $size_line =~ s/\r\z//;

            if ($size_line !~ /\A\s*([0-9A-Fa-f]+)\s*(?:;.*)?\z/) {
                push @{ $res->{errors} },
                    "bad chunk size line \"$size_line\"";
                last;
            }

            my $size = hex $1;
            $pos = $nl + 1;

            if ($size == 0) {
                # trailers, then an empty line
                my $end = index($body, "\r\n\r\n", $pos - 2);
                if (substr($body, $pos, 2) eq "\r\n") {
                    $pos += 2;
                    $res->{complete} = 1;

                } elsif ($end >= 0) {
                    $pos = $end + 4;
                    $res->{complete} = 1;

                } else {
                    push @{ $res->{errors} },
                        "chunked body: missing CRLF after the last chunk";
                }
                last;
            }

            if (length($body) < $pos + $size) {
                push @{ $res->{errors} }, "chunked body truncated: chunk of "
                    . "$size bytes, " . (length($body) - $pos)
                    . " received";
                $decoded .= substr($body, $pos);
                $pos = length $body;
                last;
            }

            $decoded .= substr($body, $pos, $size);
            $pos += $size;

            if (substr($body, $pos, 2) eq "\r\n") {
                $pos += 2;

            } else {
                push @{ $res->{errors} },
                    "chunked body: missing CRLF after a chunk";
                last;
            }
        }

        $res->{content} = $decoded;
        $res->{left} = substr($body, $pos) if $pos < length $body;
        return;
    }

    if (defined $len && $len =~ /^\s*(\d+)\s*$/) {
        my $n = $1;
        if (length($body) < $n) {
            push @{ $res->{errors} }, "body truncated: Content-Length $n, "
                . length($body) . " bytes received";
            $res->{content} = $body;
            return;
        }

        $res->{content} = substr($body, 0, $n);
        $res->{left} = substr($body, $n) if length($body) > $n;
        $res->{complete} = 1;
        return;
    }

    # no framing: the body runs until the connection closes
    $res->{content} = $body;
}

package Test::Nginx::HTTPClient::Response;

sub code { $_[0]{code} }

sub content { $_[0]{content} }

sub status_line { $_[0]{status_line} }

sub raw_headers { $_[0]{raw_headers} }

# All values of a header, case-insensitively; joined by ", " in scalar
# context like HTTP::Headers.
sub header {
    my ($self, $name) = @_;

    my @v = map { $_->[1] }
            grep { lc($_->[0]) eq lc($name) } @{ $self->{headers} };

    return @v if wantarray;
    return undef if !@v;
    return join ', ', @v;
}

1;
