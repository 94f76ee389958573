package OIE::Nginx;

# A real nginx with the module, for the tests the Test::Nginx block format
# does not fit: several workers under concurrent load, reloads and quits in
# the middle of traffic, kill -9.  Everything lives in a temporary prefix;
# traffic goes to 127.0.0.1 only.

use strict;
use warnings;

use File::Temp qw(tempdir);
use File::Path qw(make_path);
use IO::Socket::INET;
use JSON::PP ();
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);
use Test::Nginx::Sanitize ();

our $Binary = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';

sub root_dir {
    my $root = $ENV{OIE_ROOT};
    return $root if $root;
    require FindBin;
    ($root = $FindBin::Bin) =~ s{/t(/.*)?$}{};
    return $root;
}

sub modules {
    my $list = $ENV{TEST_NGINX_LOAD_MODULES}
        || '/usr/lib/nginx/modules/ndk_http_module.so '
           . root_dir() . '/build/ngx_http_oie_module.so';
    return split ' ', $list;
}

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, ReuseAddr => 1)
        or die "no free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

# new(http => '... inside http {}', server => '... inside server {}',
#     workers => 2, main => '... top level')
sub new {
    my ($class, %o) = @_;
    my $self = bless { workers => 2, owner => $$, %o }, $class;
    $self->{prefix} = tempdir('oie-nginx-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    chmod 0755, $self->{prefix};
    make_path("$self->{prefix}/logs", "$self->{prefix}/conf",
              "$self->{prefix}/tmp");
    $self->{port} ||= free_port();
    $self->{events} ||= "$self->{prefix}/events";
    Test::Nginx::Sanitize::watch_log("$self->{prefix}/logs/error.log");
    $self->write_conf;
    return $self;
}

sub prefix { $_[0]{prefix} }
sub port   { $_[0]{port} }
sub events { $_[0]{events} }

sub write_conf {
    my $self = shift;
    my $p = $self->{prefix};
    my $load = join '', map { "load_module $_;\n" } modules();
    my $http = $self->{http} // '';
    my $server = $self->{server} // '';
    $http =~ s/\$EVENTS/$self->{events}/g;
    $server =~ s/\$EVENTS/$self->{events}/g;
    my $conf = <<"CONF";
$load
worker_processes $self->{workers};
error_log logs/error.log info;
pid logs/nginx.pid;
user root;
@{[ $self->{main} // '' ]}
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $p/tmp/body;
    proxy_temp_path $p/tmp/proxy;
    fastcgi_temp_path $p/tmp/fastcgi;
    uwsgi_temp_path $p/tmp/uwsgi;
    scgi_temp_path $p/tmp/scgi;
$http
    server {
        listen 127.0.0.1:$self->{port};
        location = /t { oie_track; }
        location = /status { oie_status; }
$server
    }
}
CONF
    open my $fh, '>', "$p/conf/nginx.conf" or die $!;
    print $fh $conf;
    close $fh;
}

sub _run {
    my ($self, @args) = @_;
    # valgrind or TEST_NGINX_PREFIX_CMD (see Test::Nginx::Sanitize)
    my $pre = join ' ', Test::Nginx::Sanitize::prefix(start => !@args);
    my $out = `$pre $Binary -p $self->{prefix}/ -c conf/nginx.conf @args 2>&1`;
    return ($? >> 8, $out);
}

sub start {
    my $self = shift;
    my ($rc, $out) = $self->_run();
    die "nginx did not start: $out\n" . $self->error_log if $rc;
    for (1 .. 100) {
        last if $self->pid && IO::Socket::INET->new(
            PeerAddr => '127.0.0.1', PeerPort => $self->{port}, Timeout => 1);
        sleep 0.05;
    }
    # the master listens before its workers are forked: callers that pin,
    # trace or count the workers want them there (bounded)
    if (($self->{workers} // '') =~ /^[1-9]\d*$/) {
        for (1 .. 100) {
            last if $self->worker_pids >= $self->{workers};
            sleep 0.05;
        }
    }
    return $self;
}

sub pid {
    my $self = shift;
    open my $fh, '<', "$self->{prefix}/logs/nginx.pid" or return undef;
    my $pid = <$fh>;
    chomp $pid if defined $pid;
    return $pid && kill(0, $pid) ? $pid : undef;
}

sub worker_pids { $_[0]->_children(qr/worker process/) }

# the cache manager process, which drains the ring with oie_drain_process
# on (none found under valgrind, where titles are not set)
sub helper_pids { $_[0]->_children(qr/cache manager process/, 1) }

sub _children {
    my ($self, $title, $titled_only) = @_;
    my $master = $self->pid or return ();
    my @pids;
    for my $dir (glob '/proc/[0-9]*') {
        open my $fh, '<', "$dir/stat" or next;
        my $stat = <$fh>;
        # under valgrind the name is memcheck's and the title is not set:
        # every child of the master is a worker there
        next unless $stat && $stat =~ /^\d+ \((nginx|memcheck[^)]*)\) \S (\d+)/;
        next unless $2 == $master;
        my $valgrind = $1 ne 'nginx';
        my ($pid) = $dir =~ m{(\d+)$};
        open my $cmd, '<', "$dir/cmdline" or next;
        my $cmdline = <$cmd> // '';
        push @pids, $pid if ($valgrind && !$titled_only) || $cmdline =~ $title;
    }
    return @pids;
}

sub signal {
    my ($self, $sig) = @_;
    my ($rc, $out) = $self->_run('-s', $sig);
    die "nginx -s $sig failed: $out" if $rc;
}

sub reload { $_[0]->signal('reload') }

# graceful quit, waiting for the master to go (workers drain on their way)
sub quit {
    my ($self, $timeout) = @_;
    my $pid = $self->pid or return;
    kill 'QUIT', $pid;
    $self->_wait_gone($pid, $timeout // 20);
}

sub stop {
    my $self = shift;
    my $pid = $self->pid or return;
    kill 'TERM', $pid;
    $self->_wait_gone($pid, 10);
}

sub kill9 {
    my $self = shift;
    my $pid = $self->pid or return;
    my %kids = map { $_ => 1 } $self->worker_pids, $self->helper_pids;
    my @workers = sort keys %kids;
    kill 'KILL', $pid, @workers;
    $self->_wait_gone($_, 5) for $pid, @workers;
    unlink "$self->{prefix}/logs/nginx.pid";
}

sub _wait_gone {
    my ($self, $pid, $timeout) = @_;
    my $end = time + $timeout;
    while (time < $end) {
        return 1 unless kill 0, $pid;
        # a zombie (exited, not yet reaped by its parent) is gone too
        if (open my $fh, '<', "/proc/$pid/stat") {
            my $stat = <$fh> // '';
            return 1 if $stat =~ /^\d+ \(.*\) Z /;
        }
        sleep 0.02;
    }
    return 0;
}

sub error_log {
    my $self = shift;
    open my $fh, '<', "$self->{prefix}/logs/error.log" or return '';
    local $/;
    return <$fh>;
}

sub DESTROY {
    my $self = shift;
    local $?;
    return if $$ != $self->{owner};     # a forked client is not the owner
    my $pid = $self->pid or return;
    kill 'KILL', $pid, $self->worker_pids;
}

# one HTTP/1.1 request on a fresh connection: (status, headers, body)
sub request {
    my ($self, $method, $path, %o) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $self->{port}, Timeout => 5)
        or return (0, {}, "connect: $!");
    my $body = $o{body} // '';
    my $req = "$method $path HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              . "Connection: close\r\n";
    my %h = (%{ $o{headers} // {} });
    $h{'Content-Length'} = length $body if length $body
                                           || $method eq 'POST';
    $req .= "$_: $h{$_}\r\n" for sort keys %h;
    $req .= "\r\n$body";
    print $s $req;
    local $/;
    my $resp = <$s> // '';
    close $s;
    my ($head, $rbody) = split /\r\n\r\n/, $resp, 2;
    return (0, {}, '') unless $head;
    my ($status) = $head =~ m{^HTTP/1\.\d (\d+)};
    my %rh;
    for (split /\r\n/, $head) {
        $rh{lc $1} = $2 if /^([^:]+):\s*(.*)$/;
    }
    return ($status, \%rh, $rbody // '');
}

sub status {
    my $self = shift;
    my ($code, undef, $body) = $self->request('GET', '/status');
    return $code == 200 ? JSON::PP::decode_json($body) : undef;
}

1;
