package OIE::Redis;

# A real redis-server for the tests, on a free loopback port (and a unix
# socket) in a temporary directory; nothing saved to disk.  It can be
# stopped and started again on the same port mid-test, made slow (DEBUG
# SLEEP) or frozen (SIGSTOP).  Commands go over a small RESP client of its
# own, so tests need no redis-cli and fork nothing per command.
#
#   my $redis = OIE::Redis->new;            # started
#   OIE::Redis->new(password => 'pw')       # requirepass; cmd() authenticates
#   $redis->cmd(qw(HSET oie:lead:abc1234 destination https://x/));
#   $redis->lead('abc1234', destination => 'https://x/', campaign => 'q1');
#   $redis->stop; $redis->start;            # same port, empty again
#   my $s = $redis->sleep_async(0.5);       # DEBUG SLEEP on its own link
#   OIE::Redis::sign_id($secret, 'abc1234') # "abc1234.<tag>", as links

use strict;
use warnings;

use File::Temp qw(tempdir);
use IO::Socket::INET;
use IO::Socket::UNIX;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);
use Digest::SHA qw(hmac_sha256);
use Math::BigInt;

our $Binary = $ENV{OIE_REDIS_SERVER} || 'redis-server';

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, ReuseAddr => 1)
        or die "no free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub new {
    my ($class, %o) = @_;
    my $self = bless { owner => $$, %o }, $class;
    $self->{dir} = tempdir('oie-redis-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    $self->{port} ||= free_port();
    $self->{socket} = "$self->{dir}/redis.sock";
    $self->start unless $o{no_start};
    return $self;
}

sub port   { $_[0]{port} }
sub socket_path { $_[0]{socket} }
sub addr   { "127.0.0.1:$_[0]{port}" }
sub pid    { $_[0]{pid} }

sub start {
    my $self = shift;
    die "redis already running\n" if $self->{pid};
    my @args = ($Binary, '--port', $self->{port}, '--bind', '127.0.0.1',
                '--unixsocket', $self->{socket}, '--unixsocketperm', '700',
                '--save', '', '--appendonly', 'no', '--dir', $self->{dir},
                '--enable-debug-command', 'local',
                '--logfile', "$self->{dir}/redis.log",
                (defined $self->{password}
                 ? ('--requirepass', $self->{password}) : ()),
                @{ $self->{args} // [] });
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';
        exec @args or POSIX::_exit(127);
    }
    $self->{pid} = $pid;
    for (1 .. 200) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $self->{port},
                                      Timeout => 1);
        if ($s) {
            close $s;
            my $pong = eval { $self->cmd('PING') } // '';
            return $self if $pong eq 'PONG';
        }
        die "redis-server exited at start\n" . $self->log
            if waitpid($pid, WNOHANG) == $pid;
        sleep 0.02;
    }
    die "redis-server did not start\n" . $self->log;
}

sub stop {
    my $self = shift;
    my $pid = delete $self->{pid} or return;
    delete $self->{conn};
    kill 'CONT', $pid;
    kill 'TERM', $pid;
    for (1 .. 500) {
        return 1 if waitpid($pid, WNOHANG) == $pid;
        sleep 0.01;
    }
    kill 'KILL', $pid;
    waitpid $pid, 0;
    return 1;
}

sub restart { my $self = shift; $self->stop; $self->start }

sub freeze { kill 'STOP', $_[0]{pid} }
sub thaw   { kill 'CONT', $_[0]{pid} }

sub log {
    my $self = shift;
    open my $fh, '<', "$self->{dir}/redis.log" or return '';
    local $/;
    return <$fh>;
}

sub _connect {
    my $self = shift;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $self->{port}, Timeout => 5)
        // die "cannot connect to redis: $!\n";
    if (defined $self->{password}) {
        print $s _encode('AUTH', $self->{password});
        _read($s);
    }
    return $s;
}

sub _encode {
    my @a = @_;
    my $out = '*' . scalar(@a) . "\r\n";
    for my $x (@a) {
        $x = '' unless defined $x;
        $out .= '$' . length($x) . "\r\n$x\r\n";
    }
    return $out;
}

sub _line {
    my ($s) = @_;
    my $line = <$s>;
    die "redis closed the connection\n" unless defined $line;
    $line =~ s/\r\n\z//;
    return $line;
}

# one reply: strings, integers, undef for nil, array refs; errors die
sub _read {
    my ($s) = @_;
    my $line = _line($s);
    my ($t, $rest) = (substr($line, 0, 1), substr($line, 1));
    return $rest if $t eq '+';
    die "redis: $rest\n" if $t eq '-';
    return 0 + $rest if $t eq ':';
    if ($t eq '$') {
        return undef if $rest < 0;
        my $buf = '';
        while (length $buf < $rest + 2) {
            my $n = read($s, $buf, $rest + 2 - length $buf, length $buf);
            die "redis closed the connection\n" unless $n;
        }
        return substr($buf, 0, $rest);
    }
    if ($t eq '*') {
        return undef if $rest < 0;
        return [ map { _read($s) } 1 .. $rest ];
    }
    die "redis: unexpected reply '$line'\n";
}

sub cmd {
    my ($self, @a) = @_;
    my $s = $self->{conn} //= $self->_connect;
    print $s _encode(@a);
    my $r = eval { _read($s) };
    if ($@) {
        delete $self->{conn} if $@ !~ /^redis: /;
        die $@;
    }
    return $r;
}

# HGETALL as a hash ref
sub hash {
    my ($self, $key) = @_;
    my $r = $self->cmd('HGETALL', $key) // [];
    return { @$r };
}

# a lead as oie leads push leaves it: id, campaign, destination, emailHash
# and the rest
sub lead {
    my ($self, $id, %f) = @_;
    $self->cmd('DEL', "oie:lead:$id");
    my %all = (id => $id, campaign => 'q1-outbound',
               emailHash => 'e3b0c44298fc1c149afbf4c8996fb924', %f);
    delete $all{$_} for grep { !defined $all{$_} } keys %all;
    $self->cmd('HSET', "oie:lead:$id", %all);
}

# DEBUG SLEEP on a link of its own, not waited for; keep the handle until
# done with it (its reply comes when the sleep ends)
sub sleep_async {
    my ($self, $secs) = @_;
    my $s = $self->_connect;
    print $s _encode('DEBUG', 'SLEEP', $secs);
    $s->flush;
    return $s;
}

# The signed form of a lead id, computed here from the contract in
# src/oie_id.h (not with the module's code): HMAC-SHA256(secret,
# "oie-sig-v1" NUL id), its first 8 bytes as a big-endian integer, the 8
# last base62 digits of it.
sub sign_id {
    my ($secret, $id) = @_;
    my $mac = hmac_sha256("oie-sig-v1\0$id", $secret);
    my $n = Math::BigInt->from_hex(unpack('H16', $mac));
    my @a = ('0' .. '9', 'A' .. 'Z', 'a' .. 'z');
    my $tag = '';
    for (1 .. 8) {
        my ($q, $r) = $n->copy->bdiv(62);
        $tag = $a[$r->numify] . $tag;
        $n = $q;
    }
    return "$id.$tag";
}

sub DESTROY {
    my $self = shift;
    local ($?, $@);
    return if $$ != $self->{owner};
    $self->stop;
}

1;
