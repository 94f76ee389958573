# The hiredis adapter on nginx's event loop, against a real redis-server:
# unix sockets, AUTH and SELECT, Redis absent at start, frozen, restarted
# again and again (no descriptor leaks), a bound on commands in flight,
# pipelined replies reaching the right requests, backoff without a busy
# loop, and quitting while Redis is away.
use strict;
use warnings;
use FindBin;
BEGIN { push @INC, "$FindBin::Bin/lib" }
use Test::More;
use JSON::PP ();
use POSIX ();
use Time::HiRes qw(sleep time);
use OIE::Env;
use OIE::Nginx;
use OIE::Redis;

my $FB = 'https://fallback.example/';

sub location {
    my ($ng, $path) = @_;
    my ($code, $h) = $ng->request('GET', $path);
    return $h->{location} // "status $code";
}

# the location once it is $want (bounded wait); the last one otherwise
sub eventually {
    my ($ng, $path, $want) = @_;
    my $loc;
    for (1 .. 200) {
        $loc = location($ng, $path);
        last if $loc eq $want;
        sleep 0.025;
    }
    return $loc;
}

# the worker's sockets (a leak would be Redis connections; files, such as
# the sink's, come and go with the rows)
sub fds {
    my ($pid) = @_;
    opendir my $d, "/proc/$pid/fd" or return -1;
    my @fd = grep { (readlink("/proc/$pid/fd/$_") // '') =~ /^socket:/ }
             grep { !/^\./ } readdir $d;
    return scalar @fd;
}

sub outcomes {
    my ($ng) = @_;
    my @rows;
    for my $f (sort glob $ng->events . '/email_clicks/*.ndjson') {
        open my $fh, '<', $f or die;
        push @rows, map { JSON::PP->new->utf8->decode($_) } <$fh>;
    }
    my %n;
    $n{ $_->{outcome} }++ for @rows;
    return \%n;
}

# done with it: a graceful quit, not waited for (quits that matter are)
sub finish {
    my ($ng) = @_;
    my $pid = $ng->pid or return;
    kill 'QUIT', $pid;
}

sub redirect_nginx {
    my ($redis_conf, %o) = @_;
    return OIE::Nginx->new(workers => $o{workers} // 1, http => <<H, server => <<S)->start;
    oie_sink file \$EVENTS max_age=50ms;
    oie_batch interval=10ms;
    oie_redis $redis_conf;
H
    location /r/ { oie_redirect fallback=$FB; }
S
}

subtest 'a unix socket' => sub {
    my $redis = OIE::Redis->new;
    $redis->lead('unix001', destination => 'https://ex.com/unix');
    my $ng = redirect_nginx('unix:' . $redis->socket_path . ' timeout=200ms');
    is(eventually($ng, '/r/unix001', 'https://ex.com/unix?i=unix001'),
       'https://ex.com/unix?i=unix001', 'leads are read over the socket');
    finish($ng);
};

subtest 'password= and db=' => sub {
    my $redis = OIE::Redis->new(password => 's3cret pass');
    $redis->cmd('SELECT', 3);
    $redis->lead('auth003', destination => 'https://ex.com/db3');
    $redis->cmd('SELECT', 0);
    $redis->lead('auth003', destination => 'https://ex.com/db0');
    my $port = $redis->port;

    my $ng = redirect_nginx(qq{127.0.0.1:$port "password=s3cret pass" db=3 timeout=200ms});
    is(eventually($ng, '/r/auth003', 'https://ex.com/db3?i=auth003'),
       'https://ex.com/db3?i=auth003', 'AUTH, then the lead of db 3');
    finish($ng);

    $ng = redirect_nginx("127.0.0.1:$port password=wrong timeout=200ms");
    my $loc;
    for (1 .. 40) {
        $loc = location($ng, '/r/auth003');
        last if $ng->error_log =~ /WRONGPASS|invalid password/;
        sleep 0.025;
    }
    is($loc, "$FB?i=auth003", 'a wrong password: the fallback');
    like($ng->error_log, qr/oie: redis 127\.0\.0\.1:$port \(main link\): (WRONGPASS|ERR invalid password)/,
         'and the log says why');
    finish($ng);

    $ng = redirect_nginx("127.0.0.1:$port timeout=200ms");
    $loc = location($ng, '/r/auth003');
    is($loc, "$FB?i=auth003", 'no password where one is needed: the fallback');
    finish($ng);
};

subtest 'Redis absent at start, then there' => sub {
    my $redis = OIE::Redis->new(no_start => 1);
    my $ng = redirect_nginx($redis->addr . ' timeout=50ms');
    is(location($ng, '/r/late001'), "$FB?i=late001", 'the fallback meanwhile');
    $redis->start;
    $redis->lead('late001', destination => 'https://ex.com/late');
    is(eventually($ng, '/r/late001', 'https://ex.com/late?i=late001'),
       'https://ex.com/late?i=late001', 'found once Redis is up');
    my $log = $ng->error_log;
    my @errors = $log =~ /\[error\] .*main link\): cannot connect/g;
    is(scalar @errors, 1, 'the outage is an error once; the retries are info');
    finish($ng);
};

subtest 'Redis frozen: every click answered within the timeout; thawed: back' => sub {
    my $redis = OIE::Redis->new;
    $redis->lead('frz0001', destination => 'https://ex.com/frz');
    my $ng = redirect_nginx($redis->addr . ' timeout=50ms cache=off');
    is(eventually($ng, '/r/frz0001', 'https://ex.com/frz?i=frz0001'),
       'https://ex.com/frz?i=frz0001', 'up');
    $redis->freeze;
    my @pids;
    for my $c (1 .. 5) {
        my $pid = fork // die;
        if (!$pid) {
            my $ok = 0;
            for (1 .. 4) {
                $ok++ if location($ng, '/r/frz0001') eq "$FB?i=frz0001";
            }
            POSIX::_exit($ok == 4 ? 0 : 1);
        }
        push @pids, $pid;
    }
    my $bad = 0;
    for (@pids) { waitpid $_, 0; $bad++ if $? }
    is($bad, 0, '20 clicks while frozen: all answered, to the fallback');
    $redis->thaw;
    is(eventually($ng, '/r/frz0001', 'https://ex.com/frz?i=frz0001'),
       'https://ex.com/frz?i=frz0001', 'thawed: found again');
    sleep 0.3;
    my $o = outcomes($ng);
    is($o->{redis_timeout}, 20, '20 redis_timeout rows');
    finish($ng);
};

subtest 'max_pending bounds what waits on a stuck Redis' => sub {
    my $redis = OIE::Redis->new;
    my $ng = redirect_nginx($redis->addr . ' timeout=50ms max_pending=4 cache=off');
    eventually($ng, '/r/mp00000', $FB);
    $redis->freeze;
    location($ng, "/r/mp0000$_") for 1 .. 10;
    $redis->thaw;
    sleep 0.3;
    my $o = outcomes($ng);
    is($o->{redis_timeout}, 4, 'four waited for their timeout');
    is($o->{redis_error}, 6, 'the six after were refused at once');
    finish($ng);
};

subtest 'pipelined replies reach the requests that asked' => sub {
    my $redis = OIE::Redis->new;
    $redis->lead(sprintf('pp%05d', $_), destination => "https://ex.com/$_")
        for 1 .. 40;
    my $ng = redirect_nginx($redis->addr . ' timeout=1s cache=off');
    eventually($ng, '/r/pp00001', 'https://ex.com/1?i=pp00001');
    my @pids;
    for my $c (0 .. 7) {
        my $pid = fork // die;
        if (!$pid) {
            my $bad = 0;
            for my $round (1 .. 3) {
                for my $k (1 .. 40) {
                    next if $k % 8 != $c;
                    my $id = sprintf 'pp%05d', $k;
                    $bad++ if location($ng, "/r/$id") ne "https://ex.com/$k?i=$id";
                }
            }
            POSIX::_exit($bad ? 1 : 0);
        }
        push @pids, $pid;
    }
    my $bad = 0;
    for (@pids) { waitpid $_, 0; $bad++ if $? }
    is($bad, 0, '8 clients at once, 120 clicks, each got its own lead');
    finish($ng);
};

subtest 'Redis restarted three times: no descriptor leak, no busy loop' => sub {
    my $redis = OIE::Redis->new;
    $redis->lead('fd00001', destination => 'https://ex.com/fd');
    my $ng = redirect_nginx($redis->addr . ' timeout=500ms');
    is(eventually($ng, '/r/fd00001', 'https://ex.com/fd?i=fd00001'),
       'https://ex.com/fd?i=fd00001', 'up');
    my ($worker) = $ng->worker_pids;
    my $before = fds($worker);
    cmp_ok($before, '>', 0, "the worker has $before sockets");

    for my $round (1 .. 3) {
        $redis->stop;
        location($ng, '/r/fd00001') for 1 .. 3;
        # down a while: several reconnection attempts fail
        sleep 0.4;
        $redis->start;
        $redis->lead('fd00001', destination => "https://ex.com/fd$round");
        is(eventually($ng, '/r/fd00001', "https://ex.com/fd$round?i=fd00001"),
           "https://ex.com/fd$round?i=fd00001", "round $round: back");
    }
    # both links reconnected; the tracking one may still be on its way
    my $after;
    for (1 .. 100) {
        $after = fds($worker);
        last if $after == $before;
        sleep 0.02;
    }
    is($after, $before, "as many sockets after as before ($after)");
    my ($w2) = $ng->worker_pids;
    is($w2, $worker, 'the same worker all along (it never crashed)');

    $redis->stop;
    my $t0 = $ng->error_log;
    sleep 1.2;
    my $tries = () = substr($ng->error_log, length $t0)
                     =~ /main link\): (cannot connect|connect timed out)/g;
    cmp_ok($tries, '<=', 10, "down 1.2 s: $tries attempts (backoff), not a busy loop");
    cmp_ok($tries, '>=', 1, 'but it does keep trying');
    $redis->start;
    $ng->quit;
    unlike($ng->error_log, qr/\[alert\]/, 'no alert (an fd closed twice would be one)');
};

subtest 'reload under traffic: every click answered, old workers go' => sub {
    my $redis = OIE::Redis->new;
    $redis->lead('rld0001', destination => 'https://ex.com/rld');
    my $ng = redirect_nginx($redis->addr . ' timeout=500ms', workers => 2);
    is(eventually($ng, '/r/rld0001', 'https://ex.com/rld?i=rld0001'),
       'https://ex.com/rld?i=rld0001', 'up');
    my @old = sort $ng->worker_pids;
    my $pid = fork // die;
    if (!$pid) {
        my $bad = 0;
        for (1 .. 150) {
            my $loc = location($ng, '/r/rld0001');
            $bad++ unless $loc eq 'https://ex.com/rld?i=rld0001'
                          || $loc eq "$FB?i=rld0001";
        }
        POSIX::_exit($bad ? 1 : 0);
    }
    for (1 .. 3) {
        sleep 0.2;
        $ng->reload;
    }
    waitpid $pid, 0;
    is($?, 0, '150 clicks through three reloads: each got a 302');
    my @new;
    for (1 .. 200) {
        @new = sort $ng->worker_pids;
        last if @new == 2 && !grep { my $o = $_; grep { $_ == $o } @new } @old;
        sleep 0.05;
    }
    is(scalar @new, 2, 'two workers');
    ok(!(grep { my $o = $_; grep { $_ == $o } @new } @old),
       'none of them an old one: the old workers exited');
    is(eventually($ng, '/r/rld0001', 'https://ex.com/rld?i=rld0001'),
       'https://ex.com/rld?i=rld0001', 'the new workers reach Redis');
    $ng->quit;
    unlike($ng->error_log, qr/\[alert\]|exited on signal/, 'no crash, no alert');
};

subtest 'quitting while Redis is away is not held up' => sub {
    my $redis = OIE::Redis->new;
    my $ng = redirect_nginx($redis->addr . ' timeout=500ms');
    eventually($ng, '/r/qq00001', $FB);
    $redis->stop;
    location($ng, '/r/qq00001');
    ok($ng->quit(20), 'Redis down, reconnecting: the quit completes');

    $redis->start;
    $ng = redirect_nginx($redis->addr . ' timeout=300ms cache=off');
    eventually($ng, '/r/qq00002', $FB);
    $redis->freeze;
    my $pid = fork // die;
    if (!$pid) {
        location($ng, '/r/qq00003');
        POSIX::_exit(0);
    }
    sleep 0.1;
    ok($ng->quit(20), 'Redis frozen, a click in flight: the quit completes');
    waitpid $pid, 0;
    $redis->thaw;
    my $o = outcomes($ng);
    is($o->{redis_timeout}, 1, 'the click in flight was answered and recorded');
};

done_testing;
