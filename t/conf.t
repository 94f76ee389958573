# conf/oie-demo.conf and conf/oie-production.conf pass `nginx -t` with the
# module we built; the production one also runs, on loopback ports, and does
# what its comments say: TLS, rows to BigQuery (the stand-in), real client
# addresses only from the load balancer, the status closed to others, the
# pixel cached, and limits on /t.
use strict;
use warnings;
use FindBin;
BEGIN { push @INC, "$FindBin::Bin/lib" }
use Test::More;
use File::Temp qw(tempdir);
use File::Copy qw(copy);
use JSON::PP ();
use MIME::Base64 qw(encode_base64 encode_base64url);
use Time::HiRes qw(sleep);
use OIE::Env;
use OIE::Nginx;
use OIE::Deploy qw(src_directives src_variables activate activate_t nginx_t
                   tls_cert curl mkdirs slurp spew root module_so);

my $ROOT = root();
my $SO = module_so();
plan skip_all => "no module at $SO: run make first" unless -f $SO;

my $PROD = "$ROOT/conf/oie-production.conf";
my $DEMO = "$ROOT/conf/oie-demo.conf";
my $MAKE_KEY = "$ROOT/t/bqstub/make-sa-key";

# The absolute paths conf/oie-production.conf may name, and where a test
# prefix moves them.  The conf's header lists the same paths for readers.
my @MOVED = qw(/etc/oie/ /var/lib/oie/ /var/www/oie/ /var/log/oie/ /run/);
my %KEPT = map { $_ => 1 } qw(/usr/lib/nginx/modules/ndk_http_module.so
                              /etc/nginx/mime.types);
my $OIE_SO = '/usr/lib/nginx/modules/ngx_http_oie_module.so';

# the conf with only its absolute paths moved: comments stay as they are
sub prod_in_prefix {
    my ($text, $p) = @_;
    my @out;
    for my $line (split /^/, $text) {
        if ($line !~ /^\s*#(?!\+)/) {
            $line =~ s{\Q$OIE_SO\E}{$SO}g;
            for my $dir (map { s{/$}{}r } @MOVED) {
                $line =~ s{(?<=[\s="'])\Q$dir\E(?=[/\s;"']|$)}{$p$dir}g;
            }
        }
        push @out, $line;
    }
    return join '', @out;
}

# a prefix with what the production conf needs: certificate, key, pixel
sub prod_prefix {
    my $p = tempdir('oie-prod-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    chmod 0755, $p;
    mkdirs(map { "$p$_" } qw(/etc/oie /var/lib/oie /var/www/oie /var/log/oie
                             /run /conf));
    tls_cert("$p/etc/oie/tls", 'track.example.com');
    copy("$ROOT/conf/scanner-networks.txt", "$p/etc/oie/") or die $!;
    # as the conf's comment says: head -c 32 /dev/urandom | base64
    open my $r, '<:raw', '/dev/urandom' or die $!;
    read($r, my $bytes, 32) == 32 or die "urandom: $!";
    spew("$p/etc/oie/link-secret", encode_base64($bytes));
    chmod 0600, "$p/etc/oie/link-secret";
    return $p;
}

sub sa_key {
    my ($path, @args) = @_;
    system('node', $MAKE_KEY, $path, @args) == 0
        or die "make-sa-key failed\n";
    chmod 0600, $path;
}

subtest 'conf/oie-demo.conf: nginx -t, as make run starts it' => sub {
    # run-demo.sh uses the repository root as prefix; this prefix has the
    # same layout (build/, pixel/, conf/) without touching build/run
    my $p = tempdir('oie-demo-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    mkdirs("$p/build/run/tmp", "$p/conf");
    symlink $SO, "$p/build/ngx_http_oie_module.so" or die $!;
    symlink "$ROOT/pixel", "$p/pixel" or die $!;
    copy($DEMO, "$p/conf/oie-demo.conf") or die $!;
    my ($ok, $out) = nginx_t($p, 'conf/oie-demo.conf');
    ok($ok, 'nginx -t passes') or diag $out;
    like($out, qr/test is successful/, 'nginx says so');
    unlike($out, qr/\[(?:warn|emerg|alert|crit)\]/, 'no warnings') or diag $out;
};

subtest 'conf/oie-production.conf: the paths its header lists' => sub {
    my $text = slurp($PROD);
    my ($header) = $text =~ /\A((?:#.*\n)+)/;
    my %listed = map { $_ => 1 } $header =~ m{^#\s+(/\S+)}mg;
    ok(keys %listed >= 8, scalar(keys %listed) . ' paths listed');
    my @used;
    for my $line (split /\n/, $text) {
        next if $line =~ /^\s*#(?!\+)/;
        $line =~ s/#[^"']*$//;     # a trailing comment
        push @used, $line =~ m{(?<=[\s="'])(/[\w./-]+)}g;
    }
    @used = grep { !m{^/(?:r|o|p|t|oie|pixel)\b} } @used;   # locations
    ok(@used >= 8, scalar(@used) . ' absolute paths in directives');
    for my $path (@used) {
        my $in_list = grep { $path eq $_ || index($path, $_) == 0 }
                      map { s{/$}{}r } keys %listed;
        ok($in_list, "$path is listed in the header");
        ok($KEPT{$path} || $path eq $OIE_SO
           || grep({ index("$path/", $_) == 0 } @MOVED),
           "$path: the test knows where it goes");
    }
};

subtest 'conf/oie-production.conf: nginx -t with only its paths moved' => sub {
    my $p = prod_prefix();
    sa_key("$p/etc/oie/bigquery-sa.json");
    my $orig = slurp($PROD);
    my $conf = prod_in_prefix($orig, $p);
    spew("$p/conf/nginx.conf", $conf);
    my @o = split /\n/, $orig;
    my @c = split /\n/, $conf;
    is(scalar @c, scalar @o, 'same number of lines');
    my @changed = grep { $o[$_] ne $c[$_] } 0 .. $#o;
    ok(@changed >= 8 && @changed <= 12, scalar(@changed) . ' lines changed');
    ok(!grep({ $c[$_] !~ m{\Q$p\E/|\Q$SO\E} } @changed),
       'every changed line only moved a path');
    my ($ok, $out) = nginx_t($p, 'conf/nginx.conf');
    ok($ok, 'nginx -t passes') or diag $out;
    unlike($out, qr/\[(?:warn|emerg|alert|crit)\]/, 'no warnings') or diag $out;
    ok(-d "$p/var/lib/oie/spool", 'the spool directory was made');
    my $log = eval { slurp("$p/var/log/oie/error.log") } // '';
    like($log, qr/oie: ngx_http_oie_module\/\d+\.\d+\.\d+ \(nginx\/[\d.]+\)/,
         'the module logs its version at start');
};

subtest 'conf/oie-production.conf: its "#+ " lines, as far as the module has them' => sub {
    my $orig = slurp($PROD);
    my @plus = $orig =~ /^\s*#\+ ?(.*)$/mg;
    plan skip_all => 'no "#+ " lines: the module has every directive the conf uses'
        unless @plus;
    my $p = prod_prefix();
    sa_key("$p/etc/oie/bigquery-sa.json");
    my ($ok, $out, $drop, $stale) =
        activate_t($p, 'conf/nginx.conf', prod_in_prefix($orig, $p));
    ok($ok, 'nginx -t passes with them') or diag $out;
    ok(!$stale, 'nginx knows every name src/ defines') or diag
        "nginx -t says $stale is unknown, but src/ defines it: a stale "
        . "build, or the conf uses it wrongly";
    note "still waiting for the module: @$drop" if @$drop;
};

subtest 'conf/oie-production.conf runs: TLS, BigQuery, Redis, signed ids, real_ip, status, pixel, limits' => sub {
    plan skip_all => 'needs root (user www-data)' if $> != 0;
    require OIE::BQStub;
    require OIE::Redis;
    my $redis = OIE::Redis->new;
    my ($project) = slurp($PROD) =~ /^\s*oie_sink\s+bigquery\s+project=(\S+)/m;
    my ($dataset) = slurp($PROD) =~ /^\s*oie_sink\s+bigquery\s.*?dataset=(\S+)/m;
    ok($project && $dataset, "the conf names a project ($project) and dataset");
    my $bq = OIE::BQStub->start(project => $project, dataset => $dataset);
    my $p = prod_prefix();
    copy($bq->key_file, "$p/etc/oie/bigquery-sa.json") or die $!;
    chmod 0600, "$p/etc/oie/bigquery-sa.json";
    for my $f (glob "$ROOT/pixel/dist/*.js") {
        copy($f, "$p/var/www/oie/") or die $!;
    }
    chmod 0644, glob "$p/var/www/oie/*";
    my ($http, $https) = (OIE::Nginx::free_port(), OIE::Nginx::free_port());

    # Beyond the moved paths, to run here: loopback ports, 127.0.0.3 stands
    # for the load balancer, and the stand-in's URL for BigQuery's.
    my $conf = prod_in_prefix(slurp($PROD), $p);
    my $n = 0;
    $n += $conf =~ s/^\s*listen\s+\[::\].*\n//mg;
    $n += $conf =~ s/listen\s+80;/listen 127.0.0.1:$http;/;
    $n += $conf =~ s/listen\s+443 ssl http2;/listen 127.0.0.1:$https ssl http2;/;
    $n += $conf =~ s{(set_real_ip_from\s+10\.0\.0\.0/8;)}{$1 set_real_ip_from 127.0.0.3;};
    $n += $conf =~ s{(credentials=\S+)}{$1 endpoint=@{[ $bq->url ]}/bigquery/v2};
    $n += $conf =~ s{oie_redis\s+127\.0\.0\.1:6379}{oie_redis @{[ $redis->addr ]}};
    is($n, 7, 'the run rewrites found their lines');
    spew("$p/conf/nginx.conf", $conf);

    my @cmd = ($OIE::Nginx::Binary, '-p', "$p/", '-c', 'conf/nginx.conf');
    system(@cmd) == 0 or die "nginx did not start:\n"
                             . (eval { slurp("$p/var/log/oie/error.log") } // '');
    my $pid_file = "$p/run/nginx.pid";
    my $stop = sub {
        my $pid = eval { slurp($pid_file) } or return;
        chomp $pid;
        kill 'QUIT', $pid;
        for (1 .. 200) { last unless kill 0, $pid; sleep 0.05 }
        kill 'KILL', $pid if kill 0, $pid;
    };
    my $guard = OIE::Deploy::Guard->new($stop);

    my $host = 'track.example.com';
    my %tls = (resolve => "$host:$https:127.0.0.1",
               cacert => "$p/etc/oie/tls/$host.crt");
    my $base = "https://$host:$https";
    for (1 .. 100) {
        last if (curl(%tls, url => "$base/oie/status"))[0] == 200;
        sleep 0.05;
    }
    my $ev = sub {
        return JSON::PP->new->canonical->encode({
            events => [{ type => 'pageview', timestamp => 1732406400000,
                         sessionId => 's1', visitorId => $_[0],
                         url => 'https://example.com/' }] });
    };
    my %post = (%tls, method => 'POST', url => "$base/t",
                headers => { 'Content-Type' => 'application/json' });

    my ($code, $h) = curl(%post, body => $ev->('prod-direct'));
    is($code, 204, 'POST /t over TLS (verified certificate): 204');
    ($code) = curl(%post, body => $ev->('prod-lb'), from => '127.0.0.3',
                   headers => { %{ $post{headers} },
                                'X-Forwarded-For' => '203.0.113.9' });
    is($code, 204, 'through the load balancer: 204');
    ($code) = curl(%post, body => $ev->('prod-spoof'), from => '127.0.0.2',
                   headers => { %{ $post{headers} },
                                'X-Forwarded-For' => '203.0.113.10' });
    is($code, 204, 'a client sending its own X-Forwarded-For: 204');
    ($code) = curl(%post, body => $ev->('prod-cors'),
                   headers => { %{ $post{headers} },
                                Origin => 'https://evil.example.net' });
    is($code, 403, 'an origin not in oie_allowed_origins: 403');

    my $rows = $bq->wait_rows('events', 3);
    my %ip = map { $_->{json}{visitor_id} => $_->{json}{ip} } @$rows;
    is($ip{'prod-direct'}, '127.0.0.1', 'row ip: the connection');
    is($ip{'prod-lb'}, '203.0.113.9', 'row ip: the client the balancer names');
    is($ip{'prod-spoof'}, '127.0.0.2', 'row ip: a forged header is ignored');
    ok(!exists $ip{'prod-cors'}, 'the refused event was not stored');

    ($code, undef, my $body) = curl(%tls, url => "$base/oie/status");
    is($code, 200, 'status from 127.0.0.1: 200');
    my $st = eval { JSON::PP::decode_json($body) } // {};
    is($st->{sink}{type}, 'bigquery', 'status: the BigQuery sink');
    ($code) = curl(%tls, url => "$base/oie/status", from => '127.0.0.2');
    is($code, 403, 'status from another address: 403');
    ($code) = curl(%tls, url => "$base/oie/status", from => '127.0.0.3',
                   headers => { 'X-Forwarded-For' => '203.0.113.9' });
    is($code, 403, 'status for a public client through the balancer: 403');
    ($code) = curl(url => "http://127.0.0.1:$http/oie/status");
    is($code, 200, 'status over plain HTTP from 127.0.0.1: 200');
    ($code, $h) = curl(url => "http://127.0.0.1:$http/t?x=1",
                       headers => { Host => $host });
    is($code, 301, 'plain HTTP elsewhere: 301');
    is($h->{location}, "https://$host/t?x=1", 'to https');

    # a lead in Redis, its link signed with the conf's secret by the CLI
    $redis->lead('aB3dE9x', destination => 'https://www.example.com/pricing',
                 firstName => 'Ada', company => 'Acme', lastName => 'Lovelace');
    my $oie = $ENV{OIE_BIN} || "$ROOT/build/oie";    # SAN=1: build-san/
    my $signed = `$oie id sign --secret-file $p/etc/oie/link-secret aB3dE9x`;
    chomp $signed;
    like($signed, qr/^aB3dE9x\.\w+$/, "oie id sign: $signed");
    my $loc = '';
    for (1 .. 100) {    # until the workers' Redis links are up
        ($code, $h) = curl(%tls, url => "$base/r/$signed");
        $loc = $h->{location} // '';
        last if $loc =~ m{/pricing};
        sleep 0.05;
    }
    is($code, 302, "GET /r/<signed id>: 302");
    like($loc, qr{^https://www\.example\.com/pricing\?i=aB3dE9x}, 'to the lead\'s page');
    ($code, $h) = curl(%tls, url => "$base/r/aB3dE9x");
    is($code, 302, 'GET /r/<id without its tag>: 302');
    is($h->{location}, 'https://www.example.com/', 'to the fallback');
    ($code, $h, $body) = curl(%tls, url => "$base/p?i=$signed",
                              headers => { Origin => 'https://www.example.com' });
    is($code, 200, 'GET /p?i=<signed id>: 200');
    my $lead = eval { JSON::PP::decode_json($body) } // {};
    is_deeply([@$lead{qw(firstName company)}], [qw(Ada Acme)],
              'the fields oie_personalize names') or diag $body;
    ok(!grep({ exists $lead->{$_} } qw(lastName emailHash email destination)),
       'and no other lead field') or diag $body;
    ($code) = curl(%tls, url => "$base/p?i=aB3dE9x",
                   headers => { Origin => 'https://www.example.com' });
    is($code, 404, 'GET /p?i=<id without its tag>: 404');
    ($code, $h) = curl(%tls, url => "$base/o/$signed.gif");
    is($code, 200, 'GET /o/<signed id>.gif: 200');
    is($h->{'content-type'}, 'image/gif', 'a GIF');
    # (the wait for the Redis links above may have made clicks of its own:
    # wait for these three rows, not for a row count)
    my %outcome;
    $bq->wait_for(sub {
        %outcome = map {
            my $j = $_->{json};
            my $untagged = ($j->{raw_id} // '') eq 'aB3dE9x' ? ' untagged' : '';
            ("$j->{event_type}$untagged " . ($j->{outcome} // '')) => 1
        } @{ $bq->rows('email_clicks') };
        $outcome{'email_click ok'} && $outcome{'email_open ok'}
            && grep { /^email_click untagged / } keys %outcome;
    }, 10);
    ok($outcome{'email_click ok'}, 'BigQuery: the click, ok');
    ok($outcome{'email_open ok'}, 'BigQuery: the open');
    ok(grep({ /^email_click untagged (?!ok)/ } keys %outcome), 'BigQuery: the untagged click, refused')
        or diag explain [keys %outcome];

    # the scanner list is loaded: a click from Microsoft's mail scanners
    ($code, $h, $body) = curl(%tls, url => "$base/oie/classify?kind=click",
                              from => '127.0.0.1', headers => { 'User-Agent' => 'Mozilla/5.0' });
    is($code, 200, '/oie/classify from 127.0.0.1: 200');
    like($body, qr/"class":/, 'it answers a class') or diag $body;
    ($code) = curl(%tls, url => "$base/oie/classify", from => '127.0.0.2');
    is($code, 403, '/oie/classify from another address: 403');
    my ($eop) = slurp("$ROOT/conf/scanner-networks.txt") =~ m{^(\d+\.\d+\.\d+)\.\d+/\d+\s+certain}m;
    SKIP: {
        skip 'no certain IPv4 network in conf/scanner-networks.txt', 3 unless $eop;
        # a click through the balancer from that network: answered, labelled
        ($code, $h) = curl(%tls, url => "$base/r/$signed", from => '127.0.0.3',
                           headers => { 'X-Forwarded-For' => "$eop.9",
                                        'User-Agent' => 'Mozilla/5.0' });
        is($code, 302, "a click from $eop.9 (a listed scanner network): 302");
        my $rows = $bq->wait_for(sub {
            my @r = grep { ($_->{json}{ip} // '') eq "$eop.9" } @{ $bq->rows('email_clicks') };
            @r ? \@r : undef
        }, 10) // [];
        is(scalar @$rows, 1, 'its row is in BigQuery');
        is($rows->[0]{json}{traffic_class}, 'scanner', 'labelled scanner');
    }

    my ($versioned) = map { m{([^/]+)$} } glob "$p/var/www/oie/pixel.*.min.js";
    SKIP: {
        skip 'no versioned pixel in pixel/dist (make builds it)', 6
            unless $versioned;
        ($code, $h, $body) = curl(%tls, url => "$base/$versioned");
        is($code, 200, "GET /$versioned: 200");
        is($body, slurp("$p/var/www/oie/$versioned"), 'the file');
        like($h->{'cache-control'} // '', qr/\bmax-age=31536000\b/, 'a year');
        like($h->{'cache-control'} // '', qr/\bimmutable\b/, 'immutable');
        ($code, $h) = curl(%tls, url => "$base/$versioned", gzip => 1);
        is($h->{'content-encoding'}, 'gzip', 'gzipped when asked');
        ($code) = curl(%tls, url => "$base/pixel.0000000000.min.js");
        is($code, 404, 'an unknown version: 404');
    }
    ($code, $h) = curl(%tls, url => "$base/pixel.js");
    is($code, 200, 'GET /pixel.js: 200');
    like($h->{'cache-control'} // '', qr/^max-age=3600$/, 'an hour');

    # one connection, as fast as curl goes: the limit must bite
    my $tag = 'prod-limit';
    my @urls = map {
        "$base/t?d=" . encode_base64url($ev->("$tag-$_"))
    } 1 .. 300;
    my @codes = curl(%tls, urls => \@urls, from => '127.0.0.4');
    is(scalar @codes, 300, '300 answers');
    my $ok = grep { $_ == 200 } @codes;
    my $limited = grep { $_ == 429 } @codes;
    is($ok + $limited, 300, 'each 200 (GIF) or 429');
    ok($limited > 0, "limit_req answered 429 ($ok accepted, $limited limited)");
    ok($ok >= 41, 'the burst (40) went through');
    my ($other) = curl(%post, body => $ev->('prod-other'), from => '127.0.0.5');
    is($other, 204, 'another client is not limited');
    $rows = $bq->wait_rows('events', 4 + $ok);
    my @lim = grep { $_->{json}{visitor_id} =~ /^\Q$tag\E-/ } @$rows;
    is(scalar @lim, $ok, 'exactly the accepted requests were stored');

    $stop->();
    my $log = slurp("$p/var/log/oie/error.log");
    like($log, qr/limiting requests/, 'the limit is logged');
    unlike($log, qr/\[(?:alert|crit|emerg)\]/, 'no alert, crit or emerg');
    unlike($log, qr/Ada|Lovelace|\Q$signed\E/, 'no lead data or signed id in the error log');
    $bq->stop;
};

done_testing;

package OIE::Deploy::Guard;
sub new { bless { code => $_[1] }, $_[0] }
sub DESTROY { local ($?, $@); $_[0]{code}->() }
