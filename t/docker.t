# docker/ without a Docker engine: the Dockerfile builds the way CI builds
# and installs no package list of its own; the compose file is valid YAML
# naming files that exist and variables the entrypoint knows; the entrypoint
# refuses bad values and renders a conf that passes nginx -t; and that conf
# runs as an unprivileged user, as in the image: rows to BigQuery (the
# stand-in) or to files, leads from Redis, the health checks pass, and
# SIGQUIT (the image's stop signal) drains before it exits.
use strict;
use warnings;
use FindBin;
BEGIN { push @INC, "$FindBin::Bin/lib" }
use Test::More;
use File::Temp qw(tempdir);
use File::Copy qw(copy);
use JSON::PP ();
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);
use OIE::Env;
use OIE::Nginx;
use OIE::Events qw(sink_rows);
use OIE::Deploy qw(src_directives nginx_t curl mkdirs slurp spew root
                   module_so);

my $ROOT = root();
my $D = "$ROOT/docker";
my $ENTRY = "$D/entrypoint.sh";
my $SO = module_so();
# the image is built with make, into build/; make test SAN=1 tests the
# instrumented build of build-san/ instead, whose module also loads the
# sanitizers' libraries: the Dockerfile's build/ is read as the build under
# test, so that the files asked about are the ones tested
# (relative, as there: docker/runtime-packages.sh takes an absolute path
# for a file some package must hold)
my $BUILD = ($ENV{OIE_BUILD_DIR} || "$ROOT/build") =~ s{^\Q$ROOT\E/}{}r;
sub built { $_[0] =~ s{^build/}{$BUILD/}r }
my $MAKE_KEY = "$ROOT/t/bqstub/make-sa-key";

# --- the Dockerfile, as instructions: {cmd, args, stage}

sub dockerfile {
    my $text = slurp("$D/Dockerfile");
    $text =~ s/^\s*#.*\n//mg;           # comments (also inside a RUN)
    $text =~ s/\\\n/ /g;                # continued lines
    my (@ins, $stage);
    $stage = -1;
    for my $line (split /\n/, $text) {
        next unless $line =~ /^\s*(\w+)\s+(.*?)\s*$/;
        my ($cmd, $args) = (uc $1, $2);
        $stage++ if $cmd eq 'FROM';
        push @ins, { cmd => $cmd, args => $args, stage => $stage };
    }
    return @ins;
}

my @DF = dockerfile();
my $LAST = $DF[-1]{stage};
sub ins { my ($cmd, $stage) = @_;
          grep { $_->{cmd} eq $cmd && (!defined $stage || $_->{stage} == $stage) } @DF }

# --- compose's ${VAR:-default} with an empty environment
sub interpolate {
    my $v = shift // '';
    $v =~ s/\$\$/\0/g;                  # "$$" is a "$" that stays
    $v =~ s/\$\{(\w+)(?::?-([^}]*))?\}/$2 \/\/ ''/ge;
    $v =~ s/\0/\$/g;
    return $v;
}

# runs the entrypoint with %env (on top of a clean one); returns
# (exit status, stderr)
sub entry {
    my ($env, @cmd) = @_;
    my $err = tempdir('oie-entry-XXXXXX', TMPDIR => 1, CLEANUP => 1) . '/err';
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        %ENV = (PATH => $ENV{PATH}, %$env);
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', $err;
        exec 'sh', $ENTRY, @cmd or POSIX::_exit(127);
    }
    waitpid $pid, 0;
    return ($? >> 8, slurp($err));
}

my $nginx_dir = $OIE::Nginx::Binary =~ m{^(.*)/} ? $1 : '/usr/sbin';
my $PATH = "$nginx_dir:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

subtest 'Dockerfile: Debian 12, and the build stage does what CI does' => sub {
    my @from = ins('FROM');
    ok(@from >= 1, scalar(@from) . ' stages');
    like($_->{args}, qr/^debian:(?:12|bookworm)(?:-slim)?\b/, "FROM $_->{args}")
        for @from;

    my $ci = slurp("$ROOT/.ci/run");
    # (alone or through its run function, which adds the summary)
    like($ci, qr/^\s*(?:run\s+"[^"]*"\s+)?make test\s*$/m,
         '.ci/run runs "make test"');
    my $mk = slurp("$ROOT/Makefile");
    like($mk, qr/^test:[^\n]*\ball\b/m, 'make test starts with make all');

    my @run = map { $_->{args} } ins('RUN', 0);
    my ($deps) = grep { $run[$_] eq 'scripts/install-deps.sh' } 0 .. $#run;
    my ($make) = grep { $run[$_] eq 'make all' } 0 .. $#run;
    ok(defined $deps, 'RUN scripts/install-deps.sh (the script itself, as is)');
    ok(defined $make, 'RUN make all (the target make test builds first)');
    ok(defined $deps && defined $make && $deps < $make, 'in that order');
    ok(grep({ $_->{args} =~ m{^scripts/install-deps\.sh\s+scripts/install-deps\.sh$} }
            ins('COPY', 0)), 'the script is the repository\'s, copied as is');

    # what "make all" runs first is that same script
    my $stamp = tempdir('oie-stamp-XXXXXX', TMPDIR => 1, CLEANUP => 1) . '/none';
    delete local @ENV{qw(MAKEFLAGS MFLAGS MAKELEVEL)};   # not make test's
    my $dry = `cd $ROOT && make -n all DEPS_STAMP=$stamp 2>/dev/null`;
    my ($first) = grep { /\S/ && !/^make(?:\[\d+\])?:/ } split /\n/, $dry;
    is($first, 'scripts/install-deps.sh', 'make all runs scripts/install-deps.sh first')
        or diag $dry;
    like($dry, qr/ngx_http_oie_module\.so/, 'and builds the module');
};

subtest 'Dockerfile: no package list of its own' => sub {
    my @apt = grep { /apt-get\s+install/ } map { $_->{args} } ins('RUN');
    ok(@apt, scalar(@apt) . ' apt-get install');
    for my $run (@apt) {
        my ($args) = $run =~ /apt-get\s+install\s+([^&|;]*)/;
        my @words = grep { !/^-/ } split ' ', $args;
        is_deeply(\@words, [], 'apt-get install names no package') or diag $run;
        like($run, qr{xargs\s+-a\s+/tmp/runtime-packages\.txt}, 'its packages come from runtime-packages.txt');
    }
    ok(grep({ $_->{args} =~ m{^docker/runtime-packages\.sh\s.*>\s*build/runtime-packages\.txt$} }
            ins('RUN', 0)), 'the build stage writes it with docker/runtime-packages.sh');
    ok(grep({ $_->{args} =~ m{--from=build\s+/opt/oie/build/runtime-packages\.txt\s+/tmp/runtime-packages\.txt} }
            ins('COPY', $LAST)), 'the runtime stage takes it from there');
    my $deps = slurp("$ROOT/scripts/install-deps.sh");
    my ($list) = $deps =~ /PKGS=\((.*?)\)/s;
    my @pkgs = grep { !/^#/ } map { s/#.*//r =~ /(\S+)/g } split /\n/, $list // '';
    ok(@pkgs > 5, scalar(@pkgs) . ' packages in install-deps.sh');
    my $df = slurp("$D/Dockerfile") =~ s/^\s*#.*$//mgr;
    my @copied = grep { $df =~ /(?<![\w\/.-])\Q$_\E(?![\w\/.-])/ } grep { !/^(?:nginx|curl|openssl)$/ } @pkgs;
    is_deeply(\@copied, [], 'the Dockerfile names none of install-deps.sh\'s packages');
};

subtest 'docker/runtime-packages.sh: the packages of what the image runs' => sub {
    my ($run) = grep { m{^docker/runtime-packages\.sh\s} } map { $_->{args} } ins('RUN', 0);
    my ($files) = ($run // '') =~ m{^docker/runtime-packages\.sh\s+(.*?)\s*>};
    my @files = split ' ', $files // '';
    ok(@files >= 5, "the Dockerfile asks for @files");
    my @here = map { built($_) } @files;
    my $out = `cd $ROOT && sh docker/runtime-packages.sh @here 2>&1`;
    is($?, 0, 'exit 0') or diag $out;
    my @pkgs = split /\n/, $out;
    my %pkg = map { $_ => 1 } @pkgs;
    ok(@pkgs >= 5, scalar(@pkgs) . ' packages');
    is(scalar(grep { !/^[a-z0-9][a-z0-9.+-]+$/ } @pkgs), 0, 'one package name a line');
    my %status = map { split /\t/, $_, 2 }
                 split /\n/, `dpkg-query -W -f '\${Package}\t\${Status}\n' @pkgs 2>/dev/null`;
    my @missing = grep { ($status{$_} // '') ne 'install ok installed' } @pkgs;
    is_deeply(\@missing, [], 'every one is installed here');

    # who owns what, asked once (each query reads dpkg's whole database)
    my @libs = `ldd $SO` =~ m{=>\s+(/\S+)}g;
    ok(@libs, scalar(@libs) . ' libraries of the module');
    my @ask = map { ($_, m{^/usr(/.*)} ? $1 : "/usr$_") } @libs, grep { m{^/} } @files;
    my %owner;
    for (split /\n/, `dpkg-query -S @ask 2>/dev/null`) {
        next if /^diversion /;
        $owner{$2} //= $1 if /^([^:,]+)[^ ]*: (.*)$/;
    }
    my $owner = sub { $owner{$_[0]} // $owner{ $_[0] =~ m{^/usr(/.*)} ? $1 : "/usr$_[0]" } };
    for my $f (grep { m{^/} } @files) {
        my $o = $owner->($f);
        ok($o && $pkg{$o}, "$f: its package (" . ($o // 'none') . ') is listed');
    }
    # every library the module loads comes with a listed package
    for my $lib (@libs) {
        my $o = $owner->($lib);
        ok($o && $pkg{$o}, "$lib: " . ($o // 'no package'));
    }
    my $t = tempdir('oie-rp-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    spew("$t/stray", "x");
    $out = `sh $ROOT/docker/runtime-packages.sh $t/stray 2>&1`;
    isnt($?, 0, 'a file of no package: an error');
    like($out, qr/no package has \Q$t\E\/stray/, 'naming it');
    $out = `sh $ROOT/docker/runtime-packages.sh $t/none 2>&1`;
    like($out, qr/no file \Q$t\E\/none/, 'a missing file: named');
};

subtest 'Dockerfile: the image runs as a user, with the module, a health check and a graceful stop' => sub {
    my ($user) = map { $_->{args} } ins('USER', $LAST);
    ok($user && $user !~ /^(?:root|0)(?::|$)/, "USER $user (not root)");
    ok(grep({ $_->{args} =~ /\buseradd\b[^&;]*\s\Q$user\E(?:\s|$)/ } ins('RUN', $LAST)),
       'made by useradd in the image');
    my ($uid) = map { /--uid\s+(\d+)/ ? $1 : () } map { $_->{args} } ins('RUN', $LAST);
    ok($uid && $uid >= 1000, "uid $uid");
    my ($expose) = map { $_->{args} } ins('EXPOSE', $LAST);
    ok($expose && $expose >= 1024, "EXPOSE $expose (no privilege needed)");
    my ($env) = map { $_->{args} } ins('ENV', $LAST);
    like($env // '', qr/\bOIE_PORT=\Q$expose\E\b/, 'OIE_PORT is that port');
    my ($stop) = map { $_->{args} } ins('STOPSIGNAL', $LAST);
    is($stop, 'SIGQUIT', 'STOPSIGNAL SIGQUIT: a graceful stop drains the ring');
    my ($hc) = map { $_->{args} } ins('HEALTHCHECK', $LAST);
    like($hc // '', qr{CMD .*http://127\.0\.0\.1:\$\{OIE_PORT\}/oie/status}, 'HEALTHCHECK asks /oie/status');
    my ($ep) = map { $_->{args} } ins('ENTRYPOINT', $LAST);
    is($ep, '["/opt/oie/docker/entrypoint.sh"]', 'ENTRYPOINT the entrypoint');
    ok(-x $ENTRY, 'docker/entrypoint.sh is executable');

    # what the runtime stage copies out of the build: made by make all
    for my $copy (ins('COPY', $LAST)) {
        my @src = grep { m{^/opt/oie/} } split ' ', $copy->{args};
        pop @src if @src > 1;                       # the destination
        for my $src (@src) {
            next if $src =~ m{/runtime-packages\.txt$};
            (my $rel = $src) =~ s{^/opt/oie/}{};
            my $here = built($rel) =~ s{^(?!/)}{$ROOT/}r;
            ok(-e $here, "$rel exists after make all ($here)");
        }
    }
    ok(grep({ $_->{args} =~ m{build/ngx_http_oie_module\.so} } ins('COPY', $LAST)),
       'the module is in the image');
    for my $copy (ins('COPY', 0)) {
        my @src = split ' ', $copy->{args};
        pop @src;
        ok(-e "$ROOT/$_", "build context: $_ exists") for @src;
    }
};

subtest 'Dockerfile.dockerignore: host builds and keys stay out, sources go in' => sub {
    my @pat = grep { /\S/ && !/^\s*#/ } split /\n/, slurp("$D/Dockerfile.dockerignore");
    my @re = map {
        my $p = quotemeta($_ =~ s{^/|/$}{}gr);
        $p =~ s{\\\*\\\*/}{(?:.*/)?}g;
        $p =~ s{\\\*}{[^/]*}g;
        qr{^$p(?:/|$)};
    } @pat;
    my $out = sub { my $f = shift; grep { $f =~ $_ } @re };
    ok($out->($_), "$_ is left out")
        for qw(build/ngx_http_oie_module.so pixel/node_modules/x .git/HEAD
               docker/secrets/bigquery-sa.json pixel/dist/pixel.min.js);
    SKIP: {
        skip 'not a git checkout', 1 unless -d "$ROOT/.git";
        my @tracked = split /\n/, `cd $ROOT && git ls-files`;
        my @lost = grep { $out->($_) && !m{^docker/secrets/} } @tracked;
        is_deeply(\@lost, [], 'no tracked source file is left out');
    }
};

my $compose;
subtest 'docker/compose.yaml: valid YAML naming what exists' => sub {
    my $have = eval { require YAML::XS; 1 };
    ok($have, 'YAML::XS (Debian: libyaml-libyaml-perl)') or return;
    $compose = eval { YAML::XS::LoadFile("$D/compose.yaml") };
    ok(ref $compose eq 'HASH', 'parses') or return diag $@;
    my $s = $compose->{services} // {};
    is_deeply([sort keys %$s], [qw(nginx redis)], 'services nginx and redis');
    my $ng = $s->{nginx};
    my $ctx = "$D/$ng->{build}{context}";
    ok(-f "$ctx/$ng->{build}{dockerfile}", "build: $ng->{build}{context} + $ng->{build}{dockerfile}");
    ok(-f "$ctx/scripts/install-deps.sh", 'the context is the repository root');
    for my $svc (sort keys %$s) {
        for my $v (@{ $s->{$svc}{volumes} // [] }) {
            my ($host) = split /:/, $v;
            if ($host =~ m{^\.}) {
                ok(-e "$D/$host", "$svc: $host exists");
            } else {
                ok(exists $compose->{volumes}{$host}, "$svc: volume $host is declared");
            }
        }
    }
    is_deeply($ng->{depends_on}, { redis => { condition => 'service_healthy' } },
              'nginx waits for a healthy Redis');
    like(join(' ', @{ $s->{redis}{healthcheck}{test} // [] }), qr/redis-cli ping/, 'Redis has a health check');
    my $env = $ng->{environment} // {};
    ok(exists $env->{$_}, "environment: $_") for qw(OIE_BQ_PROJECT OIE_BQ_DATASET OIE_BQ_KEY);
    my $entry = slurp($ENTRY);
    my $readme = slurp("$D/README.md");
    for my $k (sort keys %$env) {
        like($entry, qr/^\Q$k\E=\$\{\Q$k\E:-/m, "the entrypoint reads $k");
    }
    my @known = $entry =~ /^(OIE_\w+)=\$\{/mg;
    ok(@known > 10, scalar(@known) . ' variables in the entrypoint');
    ok(index($readme, "`$_`") >= 0, "docker/README.md documents $_") for @known;
    my ($port) = interpolate($ng->{ports}[0]) =~ /:(\d+)$/;
    is($port, $env->{OIE_PORT}, "the published port is OIE_PORT ($port)");
    my $hc = join ' ', @{ $ng->{healthcheck}{test} // [] };
    like($hc, qr{/oie/status}, 'health check on /oie/status');
    is($ng->{stop_signal}, 'SIGQUIT', 'stop_signal SIGQUIT, as the image');
    ok(-f "$D/secrets/.gitignore", 'docker/secrets/ exists; git ignores keys in it');
};

subtest 'entrypoint: renders a conf that passes nginx -t' => sub {
    my $t = tempdir('oie-dock-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my %base = (PATH => $PATH, OIE_HOME => $ROOT, OIE_DATA => "$t/data",
                OIE_REDIS => '127.0.0.1:6379');
    my @marks = slurp("$D/nginx.conf.template") =~ /@@(OIE_\w+)@@/g;
    my %sed = map { $_ => 1 } slurp($ENTRY) =~ /s\|@@(OIE_\w+)@@\|/g;
    is_deeply([grep { !$sed{$_} } @marks], [], 'the entrypoint fills every @@ mark');

    # the compose file's environment, with its defaults ("redis" does not
    # resolve here: Redis is at 127.0.0.1)
    my %compose_env;
    if ($compose) {
        my $e = $compose->{services}{nginx}{environment};
        %compose_env = map { $_ => interpolate($e->{$_}) } keys %$e;
        delete $compose_env{OIE_REDIS};
    }
    system('node', $MAKE_KEY, "$t/sa.json") == 0 or die "make-sa-key failed";
    spew("$t/secret", "0123456789abcdef0123456789abcdef\n");
    my @cases = (
        ['compose defaults (files)', { %compose_env }],
        ['BigQuery with a key', { OIE_BQ_PROJECT => 'my-project', OIE_BQ_KEY => "$t/sa.json",
                                  OIE_BQ_ENDPOINT => 'http://127.0.0.1:9/bigquery/v2' }],
        ['BigQuery on Google Cloud', { OIE_BQ_PROJECT => 'my-project', OIE_BQ_KEY => 'metadata' }],
        ['everything set', { OIE_ALLOWED_ORIGINS => 'https://example.com https://www.example.com:8443',
                             OIE_REAL_IP_FROM => '10.0.0.0/8 192.168.1.1 fd00::/8',
                             OIE_STATUS_ALLOW => '10.1.2.3', OIE_LINK_SECRET => "$t/secret",
                             OIE_WORKERS => 3, OIE_ZONE_SIZE => '8m', OIE_SERVER_NAME => 'track.example.com',
                             OIE_FALLBACK_URL => 'https://example.com/?from=mail',
                             OIE_PERSONALIZE_FIELDS => 'firstName', OIE_IP_ANONYMIZE => 'on' }],
        ['any origin', { OIE_ALLOWED_ORIGINS => '*' }],
    );
    for my $c (@cases) {
        my ($name, $env) = @$c;
        my $conf = "$t/data/nginx.conf";
        unlink $conf;
        my ($rc, $err) = entry({ %base, %$env }, 'true');
        is($rc, 0, "$name: rendered") or diag $err;
        my $text = -f $conf ? slurp($conf) : '';
        ok($text =~ /^load_module/m && $text !~ /\@\@OIE_/, "$name: no mark left");
        my ($ok, $out) = nginx_t($ROOT, $conf);
        ok($ok, "$name: nginx -t passes") or diag $out;
        unlike($out, qr/\[(?:warn|emerg)\]/, "$name: no warning") or diag $out;
    }
    like(slurp("$t/data/nginx.conf"), qr/oie_allowed_origins \*;/, '"*" is not globbed');
};

subtest 'entrypoint: refuses what does not fit, and runs nothing' => sub {
    my $t = tempdir('oie-dock-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my %base = (PATH => $PATH, OIE_HOME => $ROOT, OIE_DATA => "$t/data");
    my @bad = (
        [OIE_PORT => '80', qr/OIE_PORT="80" is not valid: expected a port from 1024/],
        [OIE_PORT => '8080; evil', qr/OIE_PORT/],
        [OIE_BQ_DATASET => 'a; b', qr/OIE_BQ_DATASET="a; b" is not valid/, OIE_BQ_PROJECT => 'my-project', OIE_BQ_KEY => 'metadata'],
        [OIE_BQ_PROJECT => 'My Project', qr/OIE_BQ_PROJECT/],
        [OIE_BQ_KEY => "$t/none.json", qr/OIE_BQ_KEY: no file \Q$t\E\/none\.json/, OIE_BQ_PROJECT => 'my-project'],
        [OIE_BQ_KEY => 'key.json', qr/OIE_BQ_KEY="key\.json" is not valid: expected an absolute path/, OIE_BQ_PROJECT => 'my-project'],
        [OIE_BQ_ENDPOINT => 'http://x/}', qr/OIE_BQ_ENDPOINT/, OIE_BQ_PROJECT => 'my-project', OIE_BQ_KEY => 'metadata'],
        [OIE_ALLOWED_ORIGINS => 'https://a.com; deny all', qr/OIE_ALLOWED_ORIGINS/],
        [OIE_REAL_IP_FROM => '10.0.0.0/8;', qr/OIE_REAL_IP_FROM/],
        [OIE_STATUS_ALLOW => 'all', qr/OIE_STATUS_ALLOW/],
        [OIE_WORKERS => '0', qr/OIE_WORKERS/],
        [OIE_ZONE_SIZE => '1 g', qr/OIE_ZONE_SIZE/],
        [OIE_SERVER_NAME => "a\nb", qr/OIE_SERVER_NAME must be one line/],
        [OIE_FALLBACK_URL => 'https://x/$host', qr/OIE_FALLBACK_URL/],
        [OIE_FALLBACK_URL => 'https://x/a|b', qr/OIE_FALLBACK_URL/],
        [OIE_REDIS => 'redis', qr/OIE_REDIS/],
        [OIE_PERSONALIZE_FIELDS => 'email;', qr/OIE_PERSONALIZE_FIELDS/],
        [OIE_LINK_SECRET => "$t/nope", qr/OIE_LINK_SECRET: cannot read/],
        [OIE_IP_ANONYMIZE => 'yes', qr/OIE_IP_ANONYMIZE="yes" is not valid: expected "on" or "off"/],
    );
    for my $b (@bad) {
        my ($k, $v, $re, %more) = @$b;
        (my $show = $v) =~ s/\n/\\n/g;
        unlink "$t/ran";
        my ($rc, $err) = entry({ %base, %more, $k => $v }, 'touch', "$t/ran");
        is($rc, 64, "$k=\"$show\": exit 64");
        like($err, $re, "$k: says what is wrong") or diag $err;
        ok(!-e "$t/ran", "$k: the command did not run");
        ok(!-e "$t/data/nginx.conf", "$k: no conf written");
    }
};

subtest 'the container nginx runs as an unprivileged user, as in the image' => sub {
    require OIE::BQStub;
    require OIE::Redis;
    my $root = $> == 0;
    my ($uid, $gid) = $root ? (65534, 65534) : ($>, $) + 0);
    my ($hc_compose) = $compose
        ? map { interpolate($_) } grep { /curl/ } @{ $compose->{services}{nginx}{healthcheck}{test} }
        : ();
    my ($hc_image) = map { $_->{args} =~ /\bCMD\s+(.*)$/ } ins('HEALTHCHECK', $LAST);
    my $bq = OIE::BQStub->start(project => 'my-project');
    my $redis = OIE::Redis->new;
    $redis->lead('aB3dE9x', destination => 'https://example.com/pricing', firstName => 'Ada');

    for my $sink (qw(bigquery file)) {
        my $t = tempdir('oie-dock-XXXXXX', TMPDIR => 1, CLEANUP => 1);
        chmod 0755, $t;
        mkdirs("$t/data");
        chown $uid, $gid, "$t/data";
        my $port = OIE::Nginx::free_port();
        my %env = (PATH => $PATH, OIE_HOME => $ROOT, OIE_DATA => "$t/data",
                   OIE_PORT => $port, OIE_REDIS => $redis->addr);
        if ($sink eq 'bigquery') {
            copy($bq->key_file, "$t/data/sa.json") or die $!;
            chown $uid, $gid, "$t/data/sa.json";
            chmod 0600, "$t/data/sa.json";
            %env = (%env, OIE_BQ_PROJECT => 'my-project', OIE_BQ_KEY => "$t/data/sa.json",
                    OIE_BQ_ENDPOINT => $bq->url . '/bigquery/v2');
        }
        # like runc, which gives the container's stdio to its user (nginx
        # opens /dev/stdout for the access log)
        spew("$t/$_", '') for qw(stdout stderr);
        chown $uid, $gid, "$t/stdout", "$t/stderr";
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            %ENV = %env;
            open STDOUT, '>>', "$t/stdout";
            open STDERR, '>>', "$t/stderr";
            my @as = $root ? ('setpriv', "--reuid=$uid", "--regid=$gid", '--clear-groups', '--')
                           : ();
            exec @as, $ENTRY or POSIX::_exit(127);    # CMD ["nginx"]: the default
        }
        my $guard = OIE::Deploy::Guard2->new($pid);
        my $up = 0;
        for (1 .. 200) {
            last if waitpid($pid, WNOHANG) == $pid;
            $up = (curl(url => "http://127.0.0.1:$port/oie/status"))[0] == 200 and last;
            sleep 0.05;
        }
        ok($up, "$sink: nginx answers") or do { diag slurp("$t/stderr"); next };

        # /proc entries of other processes may go at any time: read softly
        my $read = sub { eval { slurp($_[0]) } // '' };
        my ($ruid) = $read->("/proc/$pid/status") =~ /^Uid:\s+(\d+)/m;
        is($ruid, $uid, "$sink: the master runs as uid $uid (the entrypoint exec'd nginx)");
        my @workers = grep { (($read->("$_/stat") =~ /^\d+ \(.*?\) \S (\d+)/)[0] // 0) == $pid }
                      glob '/proc/[0-9]*';
        ok(@workers >= 1, "$sink: " . scalar(@workers) . ' workers');
        is(scalar(grep { $read->("$_/status") !~ /^Uid:\s+$uid\s/m } @workers), 0,
           "$sink: every worker runs as uid $uid");

        for my $hc (grep { defined } $hc_compose, $hc_image) {
            local $ENV{OIE_PORT} = $port;
            my $rc = system('sh', '-c', "$hc >/dev/null 2>&1");
            is($rc, 0, "$sink: health check passes: $hc");
        }
        my ($code) = curl(url => "http://127.0.0.1:$port/oie/status", from => '127.0.0.2');
        is($code, 403, "$sink: status from another address: 403");

        ($code) = curl(url => "http://127.0.0.1:$port/t", method => 'POST',
                       headers => { 'Content-Type' => 'application/json' },
                       body => qq({"events":[{"type":"pageview","timestamp":1732406400000,)
                               . qq("sessionId":"s1","visitorId":"dock-$sink","url":"https://example.com/"}]}));
        is($code, 204, "$sink: POST /t: 204");
        my ($loc, $h) = ('');
        for (1 .. 100) {
            ($code, $h) = curl(url => "http://127.0.0.1:$port/r/aB3dE9x");
            $loc = $h->{location} // '';
            last if $loc =~ /pricing/;
            sleep 0.05;
        }
        is($loc, 'https://example.com/pricing?i=aB3dE9x', "$sink: /r/<id>: the lead's page, from Redis");
        ($code, $h) = curl(url => "http://127.0.0.1:$port/pixel.js");
        is($code, 200, "$sink: /pixel.js served");

        if ($sink eq 'bigquery') {
            my $rows = $bq->wait_rows('events', 1);
            ok(grep({ $_->{json}{visitor_id} eq 'dock-bigquery' } @$rows), 'bigquery: the row is in BigQuery');
            ok(-d "$t/data/spool", 'bigquery: the spool is on the volume');
            is((stat "$t/data/spool")[4], $uid, 'bigquery: owned by the user');
        }

        # docker stop: STOPSIGNAL (SIGQUIT), then wait
        kill 'QUIT', $pid;
        my $gone = 0;
        for (1 .. 400) { $gone = waitpid($pid, WNOHANG) == $pid and last; sleep 0.05 }
        ok($gone, "$sink: SIGQUIT: nginx exits");
        is($? >> 8, 0, "$sink: with status 0") if $gone;
        $guard->done if $gone;

        if ($sink eq 'file') {
            my @rows = sink_rows("$t/data/events");
            ok(grep({ $_->{visitor_id} eq 'dock-file' } @rows), 'file: the row is in $OIE_DATA/events, completed at stop');
            my @clicks = sink_rows("$t/data/events", 'email_clicks');
            ok(grep({ ($_->{lead_id} // '') eq 'aB3dE9x' } @clicks), 'file: the click too');
        }
        my $err = slurp("$t/stderr");
        like($err, qr/oie-entrypoint: port $port, rows to /, "$sink: the entrypoint says where rows go");
        like($err, qr/oie: ngx_http_oie_module\/\d/, "$sink: nginx logs its version to stderr");
        unlike($err, qr/\[(?:alert|crit|emerg)\]/, "$sink: no alert, crit or emerg") or diag $err;
        unlike($err, qr/private_key|BEGIN PRIVATE/, "$sink: no key material in the log");
        like(slurp("$t/stdout"), qr/"POST \/t" 204 .* events=1 visitor=dock-$sink lead=- /,
             "$sink: the access log on stdout, with the module's variables");
    }

    SKIP: {
        skip 'as root only: a key the user cannot read', 2 unless $root;
        my $t = tempdir('oie-dock-XXXXXX', TMPDIR => 1, CLEANUP => 1);
        chmod 0755, $t;
        mkdirs("$t/data");
        chown $uid, $gid, "$t/data";
        copy($bq->key_file, "$t/sa.json") or die $!;
        chmod 0600, "$t/sa.json";
        my $pid = fork // die;
        if (!$pid) {
            %ENV = (PATH => $PATH, OIE_HOME => $ROOT, OIE_DATA => "$t/data",
                    OIE_BQ_PROJECT => 'my-project', OIE_BQ_KEY => "$t/sa.json");
            open STDOUT, '>', '/dev/null';
            open STDERR, '>', "$t/stderr";
            { exec 'setpriv', "--reuid=$uid", "--regid=$gid", '--clear-groups', '--', $ENTRY, 'true' }
            POSIX::_exit(127);
        }
        waitpid $pid, 0;
        is($? >> 8, 64, 'a root-only key: exit 64');
        like(slurp("$t/stderr"), qr/OIE_BQ_KEY: \Q$t\E\/sa\.json is not readable by uid $uid; on the host: chown $uid/,
             'says whose it must be');
    }
    $bq->stop;
};

done_testing;

package OIE::Deploy::Guard2;
# kills the nginx a subtest started if it did not get to stop it
sub new { bless { pid => $_[1] }, $_[0] }
sub done { delete $_[0]{pid} }
sub DESTROY {
    my $pid = $_[0]{pid} or return;
    local ($?, $!);
    my @workers;
    for my $dir (glob '/proc/[0-9]*') {
        open my $fh, '<', "$dir/stat" or next;
        my ($ppid) = (<$fh> // '') =~ /^\d+ \(.*?\) \S (\d+)/;
        push @workers, $dir =~ m{(\d+)$} if ($ppid // 0) == $pid;
    }
    kill 'KILL', $pid, @workers;
    waitpid $pid, 0;
}
