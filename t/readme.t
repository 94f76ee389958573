# README.md is the user's manual; this keeps it true:
#  - its directive reference is the module's command tables, both ways, with
#    each directive's syntax, default and context as the table says;
#  - the files it names exist; the status counters and Prometheus metrics
#    the module reports are all documented; plain `make` builds what it says;
#  - its quick-start commands run, in order, on the demo setup (make run in
#    the background, the commands after it against the demo, then Ctrl-C),
#    and the demo does what they and make run's own output promise.
use strict;
use warnings;
use FindBin;
BEGIN { push @INC, "$FindBin::Bin/lib" }
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use JSON::PP ();
use POSIX ();
use Time::HiRes qw(sleep time);
use OIE::Env;
use OIE::Nginx;
use OIE::Deploy qw(src_directives curl slurp spew root module_so);

my $ROOT = root();
my $README = slurp("$ROOT/README.md");

my %CONTEXT = (NGX_HTTP_MAIN_CONF => 'http', NGX_HTTP_SRV_CONF => 'server',
               NGX_HTTP_LOC_CONF => 'location',
               NGX_HTTP_SIF_CONF => 'if in server',
               NGX_HTTP_LIF_CONF => 'if in location',
               NGX_HTTP_UPS_CONF => 'upstream');

# "### name" sections: name => the paragraph under the heading
sub reference {
    my %doc;
    while ($README =~ /^###[ \t]+((?:set_)?oie_\w+)[ \t]*\n(.*?)(?=\n[ \t]*\n|\n#|\z)/mgs) {
        $doc{$1} = $2;
    }
    return \%doc;
}

subtest 'the directive reference is the command tables, both ways' => sub {
    my $src = src_directives();
    my $doc = reference();
    ok(keys %$src >= 8, scalar(keys %$src) . ' directives in src/ngx_http_oie_*module.c');
    for my $d (sort keys %$src) {
        ok($doc->{$d}, "$d (" . ($src->{$d}{file} =~ s{.*/}{}r) . ") has a ### $d section");
    }
    for my $d (sort keys %$doc) {
        ok($src->{$d}, "\"### $d\" is a directive of the module");
    }
};

subtest 'each directive: syntax, default and context as its command table says' => sub {
    my $src = src_directives();
    my $doc = reference();
    for my $d (sort grep { $src->{$_} } keys %$doc) {
        my $text = $doc->{$d} =~ s/\s+/ /gr;
        my $flags = $src->{$d}{flags};
        my ($syntax) = $text =~ /\*\*Syntax:\*\*(.*?)(?:·\s*\*\*(?:Default|Context):\*\*|$)/;
        my @forms = ($syntax // '') =~ /`([^`]+)`/g;
        ok(@forms, "$d: **Syntax:**");
        is(scalar(grep { !/^\Q$d\E(?:\s|;)/ } @forms), 0, "$d: every syntax starts with \"$d\"")
            or diag "@forms";
        if ($flags =~ /NGX_CONF_FLAG/) {
            like($forms[0] // '', qr/\bon \| off;/, "$d: on | off");
        } elsif ($flags =~ /NGX_CONF_NOARGS/ && $flags !~ /TAKE|MORE|ANY/) {
            is($forms[0], "$d;", "$d: takes no arguments");
        }
        like($text, qr/\*\*Default:\*\*\s*\S/, "$d: **Default:** (— when none)");
        my ($ctx) = $text =~ /\*\*Context:\*\*\s*(.*?)\s*$/;
        my %want = map { $CONTEXT{$_} => 1 } grep { $CONTEXT{$_} } split /\|/, $flags;
        my %got = map { $_ => 1 } grep { length } split /\s*,\s*/, ($ctx // '') =~ s/\.$//r;
        is_deeply([sort keys %got], [sort keys %want],
                  "$d: **Context:** " . join(', ', sort keys %want));
    }
};

subtest 'the files README names exist' => sub {
    my %seen;
    my @paths = grep { !$seen{$_}++ }
                grep { !m{^build/run/} && !/[<>*…]/ }
                $README =~ m{`((?:conf|docker|scripts|src|t|sql|pixel|build|fuzz)/[\w./-]*[\w/])`}g;
    ok(@paths >= 5, scalar(@paths) . ' repository paths in README.md');
    ok(-e "$ROOT/$_", "$_ exists") for @paths;
};

subtest 'plain make builds everything, as README says' => sub {
    delete local @ENV{qw(MAKEFLAGS MFLAGS MAKELEVEL)};   # not make test's
    my $db = `cd $ROOT && make -pq 2>/dev/null`;
    my ($goal) = $db =~ /^\.DEFAULT_GOAL :?= (.*)$/m;
    is($goal, 'all', '"make" is "make all" (the default goal)');
};

subtest 'every status counter and metric is documented' => sub {
    require OIE::BQStub;
    my $bq = OIE::BQStub->start;
    my $spool = tempdir('oie-readme-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $redis_port = OIE::Nginx::free_port();
    my @ng = (
        OIE::Nginx->new(workers => 1, http => 'oie_sink file $EVENTS;'),
        OIE::Nginx->new(workers => 1, http => <<"H"),
            oie_sink bigquery project=oie-test dataset=outbound_sales
                     credentials=@{[ $bq->key_file ]}
                     endpoint=@{[ $bq->url ]}/bigquery/v2;
            oie_spool $spool;
            oie_redis 127.0.0.1:$redis_port timeout=50ms;
H
    );
    my (%keys, %metrics);
    for my $ng (@ng) {
        $ng->start;
        my ($code, undef, $body) = $ng->request('GET', '/status');
        is($code, 200, 'status answers');
        my $walk;
        $walk = sub {
            my ($v) = @_;
            if (ref $v eq 'HASH') {
                for (keys %$v) { $keys{$_} = 1; $walk->($v->{$_}) }
            }
        };
        $walk->(eval { JSON::PP::decode_json($body) } // {});
        (undef, undef, $body) = $ng->request('GET', '/status?format=prometheus');
        $metrics{$_} = 1 for $body =~ /^(oie_\w+)/mg;
        $ng->quit;
    }
    ok(keys %keys > 10, scalar(keys %keys) . ' status keys');
    ok(keys %metrics > 5, scalar(keys %metrics) . ' metrics');
    for my $k (sort keys %keys) {
        ok($README =~ /"\Q$k\E"|`\Q$k\E`|\b\Q$k\E\b/, "status key \"$k\" is in README.md");
    }
    for my $m (sort keys %metrics) {
        ok($README =~ /\b\Q$m\E\b/, "metric $m is in README.md");
    }
    $bq->stop;
};

# --- the quick start -------------------------------------------------------

# The sh blocks of the section that starts with "## The two commands" or
# "## Quick start", as commands: comments dropped, continued lines joined.
sub quick_start {
    my ($section) = $README =~ /^## (?:The two commands|Quick ?start)\b[^\n]*\n(.*?)(?=^## |\z)/msi;
    return () unless $section;
    my @cmds;
    for my $block ($section =~ /^```(?:sh|bash|shell|console)?[ \t]*\n(.*?)^```/msg) {
        $block =~ s/\\\n\s*/ /g;
        for my $line (split /\n/, $block) {
            $line =~ s/^\s*\$\s+//;                 # a "$ " prompt
            $line =~ s/(?:^|\s+)#(?![^']*'[^']*$).*$//;   # a comment, not in quotes
            push @cmds, $line if $line =~ /\S/;
        }
    }
    return @cmds;
}

sub port_open {
    my $port = shift;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 1);
    return $s ? (close($s), 1)[1] : 0;
}

subtest 'the quick start runs as written, in order, on the demo' => sub {
    my @cmds = quick_start();
    ok(@cmds, 'README has a quick start: ' . join(' ; ', @cmds)) or return;
    my ($run) = grep { $cmds[$_] =~ /^make run\b/ } 0 .. $#cmds;
    ok(defined $run, 'it starts the demo with make run') or return;

    my $demo_pid = "$ROOT/build/run/nginx.pid";
    if (-f $demo_pid && kill 0, (slurp($demo_pid) =~ /(\d+)/)[0] // 0) {
        plan skip_all => "a demo is running (build/run/nginx.pid): not touching it";
    }
    my $port = 8080;
    my %env;
    if (port_open(8080)) {
        plan skip_all => '127.0.0.1:8080 is taken and scripts/run-demo.sh has no OIE_DEMO_PORT'
            unless slurp("$ROOT/scripts/run-demo.sh") =~ /OIE_DEMO_PORT/;
        $port = OIE::Nginx::free_port();
        $env{OIE_DEMO_PORT} = $port;
        note "8080 is taken: the demo runs on $port (OIE_DEMO_PORT), the commands say $port for 8080";
    }
    my $fix = sub { $_[0] =~ s/((?:127\.0\.0\.1|localhost):)8080\b/$1$port/gr };
    my $t = tempdir('oie-quick-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $started = time;

    # make run, as in a terminal: its own process group, Ctrl-C = SIGINT to it
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        POSIX::setsid();
        # as a terminal starts it: a harness run in the background (with
        # "&") hands its children SIGINT ignored, and a shell cannot trap
        # a signal ignored when it started
        $SIG{INT} = $SIG{QUIT} = 'DEFAULT';
        %ENV = (%ENV, %env);
        chdir $ROOT or POSIX::_exit(126);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', "$t/run.log";
        open STDERR, '>&', \*STDOUT;
        { exec 'sh', '-c', $fix->($cmds[$run]) =~ s/\s*&\s*$//r }
        POSIX::_exit(127);
    }
    my $log = sub { eval { slurp("$t/run.log") } // '' };
    my ($nginx_pid, $redis_port);
    my $gone = 0;
    my $guard = OIE::Deploy::Stop->new(sub {
        return if $gone;
        kill 'INT', -$pid;
        for (1 .. 600) { last if waitpid($pid, POSIX::WNOHANG()) == $pid; sleep 0.05 }
        if (waitpid($pid, POSIX::WNOHANG()) == 0) { kill 'KILL', -$pid; waitpid $pid, 0 }
        # what make run started and did not stop
        if ($nginx_pid && kill 0, $nginx_pid) {
            # its workers too: they outlive a killed master
            my @workers = split ' ', `pgrep -P $nginx_pid`;
            kill 'KILL', $nginx_pid, @workers;
        }
        system("redis-cli -p $redis_port shutdown nosave >/dev/null 2>&1")
            if $redis_port && port_open($redis_port);
    });

    my $up = 0;
    for (1 .. 3600) {       # a build may come first: up to 3 minutes
        last if waitpid($pid, POSIX::WNOHANG()) == $pid;
        $up = $log->() =~ /Press Ctrl-C/ && port_open($port) and last;
        sleep 0.05;
    }
    ok($up, "make run: the demo is up on 127.0.0.1:$port") or return diag $log->();
    ($nginx_pid) = (eval { slurp($demo_pid) } // '') =~ /(\d+)/;
    ($redis_port) = $log->() =~ /redis\s+127\.0\.0\.1:(\d+)/;
    ok($nginx_pid, "nginx pid $nginx_pid");

    # the commands after it, in order
    for my $i (grep { $_ != $run } 0 .. $#cmds) {
        my $cmd = $cmds[$i];
        if ($cmd =~ /^make test\b/) {
            note "\"$cmd\": this is it";
            next;
        }
        if ($i < $run) {
            fail("\"$cmd\" comes before make run: run it first, by hand");
            next;
        }
        my $out = `cd $ROOT && timeout 60 sh -c '@{[ $fix->($cmd) =~ s/'/'\\''/gr ]}' 2>&1`;
        is($?, 0, "\"$cmd\": exit 0") or diag $out;
        if ($cmd =~ /^curl\b/ && $out =~ m{^HTTP/[\d.]+ (\d+)}m) {
            ok($1 < 400, "\"$cmd\": HTTP $1");
        }
    }

    # what make run promised: the URLs it printed answer, its "Try:" works
    my $out = $log->();
    my %printed = map { $_ => 1 } grep { !/[<>]/ }
                  $out =~ m{(http://127\.0\.0\.1:$port/[\w./?=&%<>-]*)}g;
    for my $url (sort keys %printed) {
        my $path = $url =~ s{^http://[^/]+}{}r;
        my $want = $path =~ m{^/r/} ? 302 : $path eq '/t' ? 405 : 200;
        next if $path eq '/t';      # printed as "POST .../t": the Try line posts
        my ($code, $h) = curl(url => $url);
        is($code, $want, "printed $url: $want");
        unlike($h->{location} // '', qr{^http://127\.0\.0\.1:$port/$},
               "$url: to the lead's page, not the fallback") if $want == 302;
    }
    my ($try) = $out =~ /^Try:\s+(curl .*?)\n(?!\s+-)/ms;
    ok($try, 'make run prints a "Try:" command');
    if ($try) {
        $try =~ s/\\\n\s*/ /g;
        my $res = `timeout 30 sh -c '@{[ $try =~ s/'/'\\''/gr ]}' 2>&1`;
        like($res, qr{^HTTP/[\d.]+ 204}m, 'the Try: command gets 204') or diag $res;
    }
    my ($vid) = ($try // '') =~ /"visitorId":"([^"]+)"/;

    # Ctrl-C
    kill 'INT', -$pid;
    for (1 .. 600) { $gone = waitpid($pid, POSIX::WNOHANG()) == $pid and last; sleep 0.05 }
    ok($gone, 'Ctrl-C stops make run');
    like($log->(), qr/events are in/, 'and it says where the events are');
    # its pid file goes a moment before the process
    for (1 .. 200) { last unless $nginx_pid && kill 0, $nginx_pid; sleep 0.05 }
    ok(!($nginx_pid && kill 0, $nginx_pid), 'nginx stopped');
    ok(!($redis_port && port_open($redis_port)), 'Redis stopped') if $redis_port;

    # the event of the Try: line, in a file completed at the stop
    if ($vid) {
        my @files = grep { (stat $_)[9] >= int $started }
                    glob "$ROOT/build/run/events/events/*.ndjson";
        my $found = grep { /"visitor_id":"\Q$vid\E"/ } map { slurp($_) } @files;
        ok($found, "the Try: event is in build/run/events/events/ (as make run said)");
    }
};

done_testing;

package OIE::Deploy::Stop;
sub new { bless { code => $_[1] }, $_[0] }
sub DESTROY { local ($?, $@, $!); $_[0]{code}->() }
