package OIECli;

# Helpers for the oie CLI tests: run the binary, read its CSV and NDJSON,
# compute ids independently of the C code, and run a private redis-server
# on a free loopback port with a tiny RESP client.

use strict;
use warnings;
use Cwd qw(abs_path);
use Digest::SHA qw(sha256 sha256_hex hmac_sha256);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IPC::Run3 qw(run3);
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Test::More;
use Time::HiRes qw(sleep time);

use Exporter 'import';
our @EXPORT = qw(oie oie_bin root tmpdir write_file read_file csv_parse
                 ndjson_read ref_id ref_sign email_hash ref_slug
                 start_redis);

my $ROOT = $ENV{OIE_ROOT} || abs_path(dirname(abs_path(__FILE__)) . '/../../..');

sub root { $ROOT }

sub oie_bin {
    my $bin = $ENV{OIE_BIN} || "$ROOT/build/oie";
    BAIL_OUT("$bin is missing: run make first") unless -x $bin;
    return $bin;
}

# oie(@args, {stdin => ..., env => {...}}) -> (exit code, stdout, stderr)
sub oie {
    my $opts = ref $_[-1] eq 'HASH' ? pop : {};
    my ($out, $err) = ('', '');
    my $in = $opts->{stdin};
    local %ENV = (%ENV, %{ $opts->{env} || {} });
    delete $ENV{OIE_REDIS} unless exists(($opts->{env} || {})->{OIE_REDIS});
    run3([oie_bin(), @_], \$in, \$out, \$err);
    return ($? >> 8, $out, $err);
}

sub tmpdir { tempdir('oie-cli-XXXXXX', TMPDIR => 1, CLEANUP => 1) }

sub write_file {
    my ($path, $bytes) = @_;
    open my $fh, '>:raw', $path or die "$path: $!";
    print $fh $bytes;
    close $fh or die "$path: $!";
    return $path;
}

sub read_file {
    my ($path) = @_;
    open my $fh, '<:raw', $path or die "$path: $!";
    local $/;
    my $s = <$fh>;
    close $fh;
    return $s;
}

# RFC 4180, written here independently of src/oie_csv.c: rows of fields.
sub csv_parse {
    my ($text) = @_;
    my (@rows, @row, $field);
    my $i = 0;
    my $n = length $text;

    return [] if $n == 0;

    while (1) {
        if (substr($text, $i, 1) eq '"') {
            $field = '';
            $i++;
            while (1) {
                my $q = index($text, '"', $i);
                die "unclosed quote" if $q < 0;
                $field .= substr($text, $i, $q - $i);
                if (substr($text, $q + 1, 1) eq '"') {
                    $field .= '"';
                    $i = $q + 2;
                    next;
                }
                $i = $q + 1;
                last;
            }
        } else {
            substr($text, $i) =~ /^([^,\r\n]*)/;
            $field = $1;
            $i += length $field;
        }
        push @row, $field;
        my $c = substr($text, $i, 1);
        if ($c eq ',') {
            $i++;
            next;
        }
        push @rows, [@row];
        @row = ();
        $i += 1 if $c eq "\r";
        $i += 1 if substr($text, $i, 1) eq "\n";
        last if $i >= $n;
    }
    return \@rows;
}

sub ndjson_read {
    my ($path) = @_;
    my $json = JSON::PP->new->utf8;
    return [map { $json->decode($_) } grep { length } split /\n/, read_file($path)];
}

# --- the id algorithm of src/oie_id.h, in Perl -------------------------

my @B62 = ('0' .. '9', 'A' .. 'Z', 'a' .. 'z');

# the len last base62 digits of the big-endian uint64 in $bytes[0..7];
# 64-bit values are divided by 62 in two 32-bit halves, which a double
# holds exactly
sub _b62 {
    my ($bytes, $len) = @_;
    my ($hi, $lo) = unpack 'NN', $bytes;
    my $s = '';
    for (1 .. $len) {
        my $r  = $hi % 62;
        $hi    = int($hi / 62);
        my $x  = $r * 4294967296 + $lo;
        my $q  = int($x / 62);
        my $d  = $x - $q * 62;
        $lo    = $q;
        $s     = $B62[$d] . $s;
    }
    return $s;
}

# text decoded from JSON is encoded back to the UTF-8 bytes that are hashed
sub _norm {
    my ($email) = @_;
    utf8::encode($email) if utf8::is_utf8($email);
    $email =~ s/^[ \t\r\n\f\x0b]+//;
    $email =~ s/[ \t\r\n\f\x0b]+$//;
    $email =~ tr/A-Z/a-z/;
    return $email;
}

# bytes in, bytes out
sub ref_id {
    my ($email, $campaign, $attempt, $len) = @_;
    return _b62(sha256("oie-id-v1\0$campaign\0" . _norm($email) . "\0"
                       . ($attempt // 0)), $len // 7);
}

sub ref_sign {
    my ($id, $secret) = @_;
    return "$id." . _b62(hmac_sha256("oie-sig-v1\0$id", $secret), 8);
}

sub email_hash { sha256_hex(_norm($_[0])) }

sub ref_slug {
    my ($name) = @_;
    (my $s = lc $name) =~ s/[^a-z0-9]+/-/g;
    $s =~ s/^-+|-+$//g;
    return substr($s, 0, 64) =~ s/-+$//r;
}

# --- a private redis-server -------------------------------------------

# start_redis(password => PW, args => [more redis-server arguments])
sub start_redis {
    my (%opt) = @_;
    my $dir = tmpdir();
    my $port;

    for (1 .. 20) {
        my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                      LocalPort => 0, Proto => 'tcp',
                                      ReuseAddr => 1) or next;
        $port = $s->sockport;
        close $s;
        last;
    }
    die "no free port" unless $port;

    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', "$dir/redis.log";
        open STDERR, '>&', \*STDOUT;
        exec 'redis-server', '--port', $port, '--bind', '127.0.0.1',
             '--save', '', '--appendonly', 'no', '--dir', $dir,
             ($opt{password} ? ('--requirepass', $opt{password}) : ()),
             @{ $opt{args} || [] };
        exit 127;
    }

    my $r = bless { port => $port, pid => $pid, dir => $dir,
                    password => $opt{password} }, __PACKAGE__;
    my $deadline = time + 10;
    while (time < $deadline) {
        my $pong = eval { $r->cmd('PING') };
        return $r if defined $pong && $pong eq 'PONG';
        last if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }
    $r->stop;
    die "redis-server did not start on 127.0.0.1:$port: "
        . (-f "$dir/redis.log" ? read_file("$dir/redis.log") : '');
}

sub port { $_[0]{port} }
sub addr { "127.0.0.1:$_[0]{port}" }

sub _sock {
    my ($self) = @_;
    $self->{sock} ||= IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                            PeerPort => $self->{port},
                                            Proto => 'tcp', Timeout => 5)
        or die "connect: $!";
    if ($self->{password}) {
        my $sock = $self->{sock};
        my $pw = $self->{password};
        print $sock "*2\r\n\$4\r\nAUTH\r\n\$" . length($pw) . "\r\n$pw\r\n";
        _read_reply($sock);
    }
    return $self->{sock};
}

sub _read_reply {
    my ($sock) = @_;
    my $line = <$sock>;
    die "redis closed the connection" unless defined $line;
    $line =~ s/\r\n$//;
    my ($t, $rest) = (substr($line, 0, 1), substr($line, 1));
    return $rest if $t eq '+';
    die "redis: $rest\n" if $t eq '-';
    return 0 + $rest if $t eq ':';
    if ($t eq '$') {
        return undef if $rest < 0;
        my $buf = '';
        while (length $buf < $rest + 2) {
            read($sock, $buf, $rest + 2 - length $buf, length $buf) or die "short read";
        }
        return substr($buf, 0, $rest);
    }
    if ($t eq '*') {
        return undef if $rest < 0;
        return [map { _read_reply($sock) } 1 .. $rest];
    }
    die "bad reply: $line";
}

sub cmd {
    my ($self, @args) = @_;
    my $sock = $self->_sock;
    my $req = '*' . @args . "\r\n";
    $req .= '$' . length($_) . "\r\n$_\r\n" for @args;
    print $sock $req;
    return _read_reply($sock);
}

sub hgetall {
    my ($self, $key) = @_;
    return { @{ $self->cmd('HGETALL', $key) } };
}

sub stop {
    my ($self) = @_;
    close $self->{sock} if $self->{sock};
    delete $self->{sock};
    if ($self->{pid}) {
        kill 'TERM', $self->{pid};
        my $deadline = time + 10;
        while (time < $deadline) {
            last if waitpid($self->{pid}, WNOHANG) == $self->{pid};
            sleep 0.05;
        }
        if (kill 0, $self->{pid}) {
            kill 'KILL', $self->{pid};
            waitpid($self->{pid}, 0);
        }
        delete $self->{pid};
    }
}

sub DESTROY { $_[0]->stop }

1;
