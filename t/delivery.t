# Nothing lost, nothing twice: several workers under concurrent load, a
# full ring, reload, graceful quit, fast stop, and a worker killed with -9.
use strict;
use warnings;
use FindBin;
BEGIN { push @INC, "$FindBin::Bin/lib" }
use Test::More;
use POSIX ();
use Time::HiRes qw(sleep time);
use OIE::Env;
use OIE::Nginx;
use OIE::Gdb;
use OIE::Events qw(event body sink_rows part_files);

my %json = ('Content-Type' => 'application/json');

# POSTs $n requests of $per events, each event tagged "<tag>-<i>-<k>" in
# visitorId; returns how many requests got 204
sub load {
    my ($ng, $tag, $n, $per) = @_;
    my $ok = 0;
    for my $i (1 .. $n) {
        my @ev = map { event(visitorId => "$tag-$i-$_") } 1 .. $per;
        my ($code) = $ng->request('POST', '/t', body => body(@ev), headers => \%json);
        $ok++ if $code == 204;
    }
    return $ok;
}

# runs load() in $clients child processes at once
sub load_parallel {
    my ($ng, $clients, $n, $per) = @_;
    my @pids;
    for my $c (1 .. $clients) {
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            my $ok = load($ng, "c$c", $n, $per);
            POSIX::_exit($ok == $n ? 0 : 1);
        }
        push @pids, $pid;
    }
    my $fails = 0;
    for (@pids) { waitpid $_, 0; $fails++ if $? }
    return $fails;
}

sub check_exactly_once {
    my ($dir, $expect, $what) = @_;
    my @rows = sink_rows($dir);
    my (%vid, %eid);
    $vid{$_->{visitor_id}}++ for @rows;
    $eid{$_->{event_id}}++ for @rows;
    is(scalar @rows, $expect, "$what: $expect rows");
    is(scalar(grep { $_ > 1 } values %vid), 0, "$what: no event twice");
    is(scalar keys %eid, scalar @rows, "$what: event ids unique");
    return \%vid;
}

subtest 'two workers, four clients at once: every event once' => sub {
    my $ng = OIE::Nginx->new(workers => 2, http => <<'H')->start;
        oie_zone oie 8m;
        oie_sink file $EVENTS;
        oie_batch rows=50 interval=10ms;
H
    is(load_parallel($ng, 4, 150, 3), 0, 'every request answered 204');
    my $st = $ng->status;
    is($st->{accepted}, 1800, 'status counts 1800 accepted');
    is($st->{dropped}, 0, 'none dropped');
    $ng->quit;
    my $vid = check_exactly_once($ng->events, 1800, 'concurrent');
    my @missing = grep { !$vid->{$_} }
                  map { my $c = $_; map { my $i = $_; map { "c$c-$i-$_" } 1..3 } 1..150 } 1..4;
    is(scalar @missing, 0, 'every sent event is there');
};

subtest 'quit drains what is still in the ring' => sub {
    my $ng = OIE::Nginx->new(workers => 2, http => <<'H')->start;
        oie_sink file $EVENTS;
        oie_batch interval=1h;
H
    load($ng, 'q', 30, 2);
    is($ng->status->{ring}{events}, 60, '60 events waiting in the ring');
    $ng->quit;
    check_exactly_once($ng->events, 60, 'after quit');
    like($ng->error_log, qr/exit/, 'workers exited');
};

subtest 'fast stop (TERM) drains too' => sub {
    my $ng = OIE::Nginx->new(workers => 1, http => <<'H')->start;
        oie_sink file $EVENTS;
        oie_batch interval=1h;
H
    load($ng, 's', 25, 1);
    $ng->stop;
    check_exactly_once($ng->events, 25, 'after stop');
};

subtest 'reload keeps the zone, its ring and counters' => sub {
    my $ng = OIE::Nginx->new(workers => 2, http => <<'H')->start;
        oie_sink file $EVENTS;
        oie_batch interval=1h;
H
    load($ng, 'r1', 20, 1);
    $ng->reload;
    sleep 1;
    load($ng, 'r2', 20, 1);
    my $st = $ng->status;
    is($st->{requests}, 40, 'request counter carried across the reload');
    is($st->{ring}{reloads_kept}, 1, 'the zone was reused, not created anew');
    is($st->{accepted}, 40, '40 accepted');
    like($ng->error_log, qr/oie: zone "oie" kept across reload with \d+ events/, 'reload logged');
    $ng->quit;
    check_exactly_once($ng->events, 40, 'across reload');
};

subtest 'reloads during load lose nothing' => sub {
    my $ng = OIE::Nginx->new(workers => 2, http => <<'H')->start;
        oie_sink file $EVENTS;
        oie_batch rows=20 interval=20ms;
H
    my $pid = fork // die;
    if (!$pid) { POSIX::_exit(load($ng, 'L', 400, 2) == 400 ? 0 : 1) }
    for (1 .. 3) { sleep 0.4; $ng->reload }
    waitpid $pid, 0;
    is($?, 0, 'all 400 requests answered 204 through 3 reloads');
    sleep 0.5;
    $ng->quit;
    check_exactly_once($ng->events, 800, 'reloads under load');
};

subtest 'full ring: dropped, counted, logged at most once a second' => sub {
    my $ng = OIE::Nginx->new(workers => 1, http => <<'H')->start;
        oie_zone oie 1m;
        oie_sink file $EVENTS;
        oie_batch interval=1h;
H
    my $t0 = time;
    my $ok = load($ng, 'f', 400, 10);
    my $secs = time - $t0;
    is($ok, 400, 'the site keeps answering 204');
    my $st = $ng->status;
    ok($st->{dropped} > 0, "events dropped when full ($st->{dropped})");
    is($st->{accepted} + $st->{dropped}, 4000, 'accepted + dropped = sent');
    my @lines = $ng->error_log =~ /oie: event dropped: ring full/g;
    ok(@lines >= 1 && @lines <= int($secs) + 2,
       scalar(@lines) . " drop warnings in ${secs}s");
    $ng->quit;
    check_exactly_once($ng->events, $st->{accepted}, 'full ring');
};

subtest 'a worker killed with -9: the worker that replaces it recovers its rows' => sub {
    my $ng = OIE::Nginx->new(workers => 1, http => <<'H')->start;
        oie_sink file $EVENTS max_age=1h;
        oie_batch interval=20ms;
H
    load($ng, 'k', 30, 1);
    sleep 0.3;
    is(scalar(part_files($ng->events)), 1, 'rows sit in a .part file');
    my ($worker) = $ng->worker_pids;
    kill 'KILL', $worker;
    my $recovered;
    for (1 .. 50) {
        sleep 0.1;
        $recovered = sink_rows($ng->events) and last;
    }
    is($recovered, 30, 'the respawned worker finished the dead one\'s file at once');
    like($ng->error_log, qr/oie: recovered \d+ bytes of rows left by process $worker/,
         'recovery logged');
    load($ng, 'k2', 10, 1);
    $ng->quit;
    is(scalar(part_files($ng->events)), 0, 'no .part left');
    check_exactly_once($ng->events, 40, 'after kill -9');
};

# A worker stopped (by gdb, at the file sink) with a batch it took from the
# ring, then killed: those rows were only in its memory, but the ring still
# holds them until the sink has them, so the worker that replaces it takes
# them again.
subtest 'a worker killed between taking a batch and writing it: the rows are taken again' => sub {
    my $ng = OIE::Nginx->new(workers => 1, http => <<'H')->start;
        oie_sink file $EVENTS max_age=1h;
        oie_batch interval=100ms;
H
    my $worker;
    for (1 .. 50) { ($worker) = $ng->worker_pids and last; sleep 0.1 }
    my $gdb = OIE::Gdb->stop_at($worker, 'ngx_http_oie_sink_file_write', $ng->prefix);
    ok($gdb, 'gdb (scripts/install-deps.sh) attached to the worker, breakpoint at the file sink')
        or return;
    # one request: its 40 events enter the ring at once, so the batch that
    # stops the worker holds all of them and no request waits on it
    is(load($ng, 'h', 1, 40), 1, 'a request of 40 events answered');
    ok($gdb->wait_stopped(30), 'the worker stopped in the sink with a batch it took')
        or diag($gdb->log);
    $gdb->kill;
    my $got = 0;
    for (1 .. 100) {
        sleep 0.1;
        $got = () = $ng->error_log =~ /are taken again/;
        last if $got;
    }
    like($ng->error_log,
         qr/oie: 40 rows taken from the ring by process $worker, which ended before they were delivered or on disk, are taken again/,
         'the replacement worker took the dead one\'s 40 held rows again');
    load($ng, 'h2', 5, 1);
    $ng->quit;
    check_exactly_once($ng->events, 45, 'killed while holding a batch');
};

done_testing();
