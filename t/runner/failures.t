# Our runner must FAIL when it should: run fixtures in subprocesses and
# check their TAP (which tests fail, the counts, the messages). Also checks
# that test processes sharing a directory do not clobber each other.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Fcntl qw(:flock);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use POSIX ();

my $fixtures = "$FindBin::Bin/fixtures";
my $tmp = tempdir('oie-runner-XXXXXX', TMPDIR => 1, CLEANUP => 1);

# Start a fixture; returns its pid and where its output goes.
sub start_fixture {
    my ($file, %opt) = @_;

    my $n = int rand 1e9;
    my ($out, $err) = ("$tmp/out.$n", "$tmp/err.$n");

    my $pid = fork();
    die "fork: $!" if !defined $pid;
    if ($pid == 0) {
        delete @ENV{qw(TEST_NGINX_PORT TEST_NGINX_SERVER_PORT
                       TEST_NGINX_CLIENT_PORT TEST_NGINX_SERVROOT
                       TEST_NGINX_LOAD_MODULES TEST_NGINX_RANDOMIZE
                       TEST_NGINX_NO_CLEAN TEST_NGINX_NO_SHUFFLE
                       TEST_NGINX_LOG_LEVEL TEST_NGINX_TIMEOUT)};
        %ENV = (%ENV, %{ $opt{env} || {} });
        chdir $opt{cwd} if $opt{cwd};
        open STDOUT, '>', $out or die $!;
        open STDERR, '>', $err or die $!;
        # a watchdog, so a hanging runner fails this test instead of
        # hanging it
        { exec 'timeout', '120', $^X, $file }
        POSIX::_exit(127);
    }

    return { pid => $pid, out => $out, err => $err };
}

sub finish_fixture {
    my ($run) = @_;

    waitpid($run->{pid}, 0);
    my %r = (exit => $? >> 8);
    for my $k (qw(out err)) {
        open my $in, '<', $run->{$k} or die $!;
        local $/;
        $r{$k} = <$in>;
        close $in;
    }

    for my $line (split /\n/, $r{out}) {
        if ($line =~ /^(not )?ok (\d+)(?: - (.*))?$/) {
            $r{test}{$2} = { ok => !$1, name => $3 // '' };
        }
        $r{plan} = $1 if $line =~ /^1\.\.(\d+)$/;
    }
    return \%r;
}

sub run_fixture { finish_fixture(start_fixture(@_)) }

# --- a file full of wrong expectations --------------------------------------

my $sr = "$tmp/wrong-servroot";
my $r = run_fixture("$fixtures/wrong.pl",
                    env => { TEST_NGINX_SERVROOT => $sr });

is $r->{plan}, 24, 'wrong.pl: all 24 checks are counted';
is scalar(keys %{ $r->{test} }), 24, 'wrong.pl: 24 results';
is $r->{exit}, 15, 'wrong.pl: exit status is the number of failures';

my @failed = sort { $a <=> $b } grep { !$r->{test}{$_}{ok} }
             keys %{ $r->{test} };
is "@failed", "1 4 6 7 9 10 11 12 13 14 16 18 19 22 24",
    'wrong.pl: exactly the wrong expectations fail';

my %names = (
    1  => qr/TEST 1: wrong status - status code ok$/,
    2  => qr/TEST 1: wrong status - response_body - response is expected/,
    4  => qr/TEST 2: wrong body - response_body - response is expected/,
    6  => qr/TEST 3: .* - header X-A ok$/,
    7  => qr/TEST 3: .* - header Content-Type not present in the raw/,
    9  => qr/pattern "this text is not in the log" should match a line/,
    10 => qr/pattern "\[error\]" should not match any line in error\.log/,
    11 => qr/TEST 5: no answer: the client times out - status code ok$/,
    12 => qr/TEST 6: must_die, but the config is fine - die as expected$/,
    16 => qr/TEST 8: .* response is expected \(repeated req 0, req 0\)$/,
    18 => qr/TEST 8: .* response is expected \(repeated req 0, req 1\)$/,
    19 => qr/TEST 9: nginx does not start - status code ok$/,
    21 => qr/TEST 10: a block that passes after all that - response_body/,
    22 => qr/TEST 11: nginx dies in the middle of a block - status code/,
    24 => qr/pattern "never logged at shutdown" should match a line in /,
);
for my $n (sort { $a <=> $b } keys %names) {
    like $r->{test}{$n}{name}, $names{$n}, "wrong.pl: test $n is named";
}

my @messages = (
    [qr/got status "200", expected "201"/, 'status mismatch'],
    [qr/^#\s+-world\n#\s+\+there$/m, 'a diff of the bodies'],
    [qr/header X-A: got "2", expected "1"/, 'header mismatch'],
    [qr/but the response has: Content-Type: text\/plain/,
     'the header that should be absent'],
    [qr/open\(\) "[^"]*missing\.html" failed/,
     'the log lines searched, without the debug noise'],
    [qr/client socket timed out after 0\.5s/, 'the timeout'],
    [qr/nginx started although the block says --- must_die/,
     'must_die that did not die'],
    [qr/environment variable TEST_NGINX_NO_SUCH_VAR is not defined/,
     'an undefined $TEST_NGINX_ variable'],
    [qr/--- response_body must be an array/,
     'scalar expectation for several requests'],
    [qr/nginx failed to start \(exit code 1\): \[emerg\] unknown directive/,
     'nginx failing to start'],
    [qr/nginx is not running any more \(it crashed or exited\)/,
     'nginx gone in the middle of a block'],
    [qr/request: GET \/t HTTP\/1\.1 \(req 1\)/,
     'which request of the block failed'],
);
for my $m (@messages) {
    like $r->{err}, $m->[0], "wrong.pl diagnostics: $m->[1]";
}

is_deeply [nginx_using($sr)], [], 'wrong.pl: no nginx left running';

sub file_has {
    my ($file, $text) = @_;
    open my $in, '<', $file or return 0;
    local $/;
    return index(<$in> // '', $text) >= 0;
}

# live processes whose command line mentions a path
sub nginx_using {
    my ($path) = @_;
    my @pids;
    for my $dir (glob '/proc/[0-9]*') {
        open my $in, '<', "$dir/cmdline" or next;
        my $cmd = do { local $/; <$in> } // '';
        next if index($cmd, $path) < 0;
        open my $st, '<', "$dir/stat" or next;
        next if (<$st> // '') =~ /^\d+ \(.*\) Z/;
        push @pids, $dir =~ m{(\d+)$};
    }
    return @pids;
}

# --- interrupted: nginx is stopped all the same ----------------------------

{
    my $root = "$tmp/slow-servroot";
    my $run = start_fixture("$fixtures/slow.pl",
                            env => { TEST_NGINX_SERVROOT => $root });

    # wait (bounded) until its nginx is up and the request is hanging
    for (1 .. 400) {
        last if nginx_using($root)
                && file_has("$root/logs/error.log", 'http process request');
        select undef, undef, undef, 0.05;
    }
    ok scalar(nginx_using($root)), 'slow.pl: nginx is running';
    kill 'TERM', $run->{pid};
    my $s = finish_fixture($run);
    is $s->{exit}, 143, 'slow.pl: SIGTERM ends it';
    like $s->{err}, qr/caught SIGTERM, stopping nginx/, '... saying so';
    is_deeply [nginx_using($root)], [], '... and its nginx is gone';
}

# --- a server root held by another test process -----------------------------

{
    my $cwd = "$tmp/held";
    make_path("$cwd/t/servroot");
    open my $lock, '>>', "$cwd/t/servroot/.lock" or die $!;
    flock($lock, LOCK_EX) or die $!;

    my $p = run_fixture("$fixtures/pass.pl", cwd => $cwd);
    is $p->{exit}, 0, 't/servroot in use: the test still passes';
    is $p->{plan}, 12, '... with its 12 checks';
    is scalar(grep { $_->{ok} } values %{ $p->{test} }), 12,
        '... all passing';
    my ($used) = $p->{err} =~ /^# servroot: (.*)$/m;
    like $used // '', qr{^\Q$cwd\E/t/servroot_\d+$},
        '... in a server root of its own';
    ok $used && !-e $used, '... which is removed afterwards';

    my $e = run_fixture("$fixtures/pass.pl", cwd => $cwd,
                        env => { TEST_NGINX_SERVROOT => "t/servroot" });
    isnt $e->{exit}, 0, 'an explicit TEST_NGINX_SERVROOT in use fails';
    like $e->{err}, qr/in use by another test process/, '... saying why';
    close $lock;
}

# --- two copies at once in one directory, and a fixed port ------------------

{
    my $cwd = "$tmp/twice";
    make_path("$cwd/t");
    my @runs = map { start_fixture("$fixtures/pass.pl", cwd => $cwd) } 1, 2;
    my @res = map { finish_fixture($_) } @runs;
    for my $i (0, 1) {
        is $res[$i]{exit}, 0, "concurrent copy $i passes";
        is scalar(grep { $_->{ok} } values %{ $res[$i]{test} }), 12,
            "... all 12 checks";
    }
    my @ports = map { $_->{err} =~ /^# port: (\d+)$/m ? $1 : '' } @res;
    isnt $ports[0], $ports[1], 'the two copies used different ports';

    my $port = 20000 + int rand 10000;
    my $f = run_fixture("$fixtures/pass.pl", cwd => $cwd,
                        env => { TEST_NGINX_PORT => $port });
    is $f->{exit}, 0, 'TEST_NGINX_PORT: passes';
    like $f->{err}, qr/^# port: $port$/m, '... on that port';
}

# whatever went wrong above, leave no nginx of ours behind
kill 'KILL', $_ for nginx_using($tmp);

done_testing();
