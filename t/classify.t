# Traffic classification at the edge, through a real nginx: scanner
# networks (IPv4, IPv6, from X-Forwarded-For via the realip module, as
# behind a load balancer), HEAD probes, prefetch headers, headless and
# library user agents, timing shared by the workers (bursts of a lead and
# of a campaign, too-fast clicks, kept across a reload), page requests,
# oie_classify off, oie_ip_anonymize, $oie_traffic_class, and every
# configuration error at nginx -t with its file and line.
#
# oie_classify_check answers what the edge makes of the request itself;
# the same function labels /r/, /o/ and /t rows.
use strict;
use warnings;
use FindBin;
BEGIN { push @INC, "$FindBin::Bin/lib" }
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP ();
use Time::HiRes qw(sleep);
use OIE::Env;
use OIE::Nginx;

my $ROOT = $ENV{OIE_ROOT};
my $SHIPPED = "$ROOT/conf/scanner-networks.txt";
my $dir = tempdir('oie-classify-XXXXXX', TMPDIR => 1, CLEANUP => 1);

my $CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 '
           . '(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';
my $HEADLESS = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, '
             . 'like Gecko) HeadlessChrome/124.0.6367.60 Safari/537.36';

sub write_file {
    my ($path, $text) = @_;
    open my $fh, '>', $path or die "$path: $!";
    print $fh $text;
    close $fh;
}

write_file("$dir/ours.txt", <<'T');
# our own list: a probable network and an IPv6 one
198.18.0.0/15           probable    lab-scanner
2001:db8:5ca0::/48      certain     lab-v6
T

my $REALIP = <<'H';
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Forwarded-For;
H

sub check {
    my ($ng, %o) = @_;
    my %h = (%{ $o{headers} // {} });
    $h{'User-Agent'} = $o{ua} if defined $o{ua};
    $h{'X-Forwarded-For'} = $o{ip} if $o{ip};
    my $q = join '&', map { "$_=$o{args}{$_}" } sort keys %{ $o{args} // {} };
    my $path = ($o{path} // '/check') . ($q ? "?$q" : '');
    my ($code, $rh, $body) = $ng->request($o{method} // 'GET', $path,
                                          headers => \%h);
    return { code => $code, class => $rh->{'x-oie-traffic-class'},
             reasons => $rh->{'x-oie-traffic-reasons'},
             body => $code == 200 && $body ? JSON::PP::decode_json($body)
                                           : undef };
}

sub is_class {
    my ($r, $class, $reasons, $name) = @_;
    my $ok = $r->{code} == 200 && ($r->{class} // '') eq $class
             && ($r->{reasons} // '') eq $reasons;
    ok($ok, $name) or diag("got $r->{code} "
                           . ($r->{class} // 'no class') . ' '
                           . ($r->{reasons} // 'no reasons'));
}

# ---------------------------------------------------------------------
# configuration errors: nginx -t fails, naming the file and the line

sub nginx_t {
    my ($http) = @_;
    my $ng = OIE::Nginx->new(workers => 1, http => $http,
                             server => "location = /check "
                                       . "{ oie_classify_check; }\n");
    my ($rc, $out) = $ng->_run('-t');
    return ($rc, $out, $ng);
}

write_file("$dir/bad.txt", <<'T');
# a list with a mistake on line 3
40.92.0.0/15    certain     microsoft-eop
40.107.1.0/16   certain     microsoft-eop
T

my ($rc, $out) = nginx_t("oie_scanner_networks $dir/bad.txt;\n");
ok($rc != 0, 'nginx -t fails on a malformed networks file');
like($out, qr{oie_scanner_networks: \Q$dir\E/bad\.txt:3: "40\.107\.1\.0/16" has bits set after the /16 prefix \(the network is 40\.107\.0\.0/16\) in \S+nginx\.conf:\d+},
     'with the file and the line of the mistake, and of the directive');

write_file("$dir/fields.txt", "10.0.0.0/8 certain\n");
($rc, $out) = nginx_t("oie_scanner_networks $dir/fields.txt;\n");
like($out, qr{\Q$dir\E/fields\.txt:1: expected "<network> <certain\|probable> <label>", found 2 fields},
     'a line with two fields');

write_file("$dir/v6.txt", "2a01:111:f400::1/48 certain eop\n");
($rc, $out) = nginx_t("oie_scanner_networks $dir/v6.txt;\n");
like($out, qr{\Q$dir\E/v6\.txt:1: "2a01:111:f400::1/48" has bits set after the /48 prefix \(the network is 2a01:111:f400::/48\)},
     'an IPv6 network with host bits');

($rc, $out) = nginx_t("oie_scanner_networks $dir/missing.txt;\n");
like($out, qr{oie_scanner_networks: \Q$dir\E/missing\.txt: No such file or directory},
     'a missing file');

($rc, $out) = nginx_t("oie_scanner_networks $SHIPPED;\n"
                      . "oie_scanner_networks $SHIPPED;\n");
like($out, qr{\Q$SHIPPED\E:\d+: 40\.92\.0\.0/15 is listed already, at \Q$SHIPPED\E:\d+},
     'the same file twice: each network is listed already');

($rc, $out) = nginx_t("oie_classify_timing window=fast;\n");
like($out, qr{oie_classify_timing: invalid time in "window=fast"},
     'oie_classify_timing: a bad time');
($rc, $out) = nginx_t("oie_classify_timing burst=-1;\n");
like($out, qr{oie_classify_timing: invalid number in "burst=-1"},
     'oie_classify_timing: a bad number');
($rc, $out) = nginx_t("oie_classify_timing zone=4k;\n");
like($out, qr{oie_classify_timing: invalid zone size "4k"},
     'oie_classify_timing: a zone too small');
($rc, $out) = nginx_t("oie_classify_timing speed=1;\n");
like($out, qr{oie_classify_timing: unknown parameter "speed=1"},
     'oie_classify_timing: an unknown parameter');
($rc, $out) = nginx_t("oie_classify_timing off;\noie_classify_timing off;\n");
like($out, qr{"oie_classify_timing" directive is duplicate},
     'oie_classify_timing twice');

my ($rc_ok, $out_ok, $ng_rel) = nginx_t("oie_scanner_networks ours.txt;\n");
write_file($ng_rel->prefix . '/conf/ours.txt', "192.0.2.0/24 certain rel\n");
($rc_ok, $out_ok) = $ng_rel->_run('-t');
is($rc_ok, 0, 'a relative path is under the configuration directory')
    or diag($out_ok);

# ---------------------------------------------------------------------
# one nginx, two workers, long windows: nothing here depends on speed

my $log = "$dir/access.log";
my $ng = OIE::Nginx->new(workers => 2, http => <<H, server => <<S)->start;
$REALIP
    oie_scanner_networks $SHIPPED;
    oie_scanner_networks $dir/ours.txt;
    oie_classify_timing window=60s too_fast=60s burst=3 campaign_burst=5
                        page_burst=4;
    log_format cls '\$oie_traffic_class \$remote_addr';
H
    location = /check { oie_classify_check; access_log $log cls; }
    location = /check-off { oie_classify off; oie_classify_check; }
    location = /check-anon { oie_ip_anonymize on; oie_classify_check; }
S

my $r = check($ng, ip => '198.51.100.20', ua => $CHROME);
is_class($r, 'human', '[]', 'Chrome from a residential address: human');
is($r->{body}{ip}, '198.51.100.20', 'the full address, not anonymized');

is_class(check($ng, ip => '40.107.22.15', ua => $CHROME), 'scanner',
         '["net:microsoft-eop:certain"]',
         'an EOP address with a browser user agent: scanner');
is_class(check($ng, ip => '2a01:111:f403:c100::5', ua => $CHROME), 'scanner',
         '["net:microsoft-eop:certain"]', 'an EOP IPv6 address: scanner');
is_class(check($ng, ip => '205.139.110.40', ua => $CHROME,
               args => { kind => 'open' }),
         'scanner', '["net:mimecast:certain"]', 'an open from Mimecast');
is_class(check($ng, ip => '2001:db8:5ca0:1::9', ua => $CHROME), 'scanner',
         '["net:lab-v6:certain"]', 'an IPv6 network from our own list');
is_class(check($ng, ip => '198.18.3.3', ua => $CHROME), 'unknown',
         '["net:lab-scanner:probable"]', 'a probable network alone: unknown');
is_class(check($ng, ip => '198.18.3.3', ua => 'curl/8.0.1'), 'scanner',
         '["ua:http-client","net:lab-scanner:probable"]',
         'a probable network and a library: scanner');

$r = check($ng, method => 'HEAD', ip => '198.51.100.20', ua => $CHROME);
is_class($r, 'bot', '["method:head"]', 'a HEAD probe: bot');
is_class(check($ng, method => 'HEAD', ip => '40.92.8.8', ua => $CHROME),
         'scanner', '["method:head","net:microsoft-eop:certain"]',
         'a HEAD probe from EOP: scanner');
is_class(check($ng, ip => '198.51.100.20', ua => $CHROME,
               headers => { 'Sec-Purpose' => 'prefetch;prerender' }),
         'prefetch', '["prefetch-header"]', 'Sec-Purpose: prefetch');
is_class(check($ng, ip => '198.51.100.20', ua => $CHROME,
               headers => { 'Purpose' => 'prefetch' }),
         'prefetch', '["prefetch-header"]', 'Purpose: prefetch');
is_class(check($ng, ip => '198.51.100.20', ua => $CHROME,
               headers => { 'X-Moz' => 'prefetch' }),
         'prefetch', '["prefetch-header"]', 'X-Moz: prefetch');
is_class(check($ng, ip => '198.51.100.20', ua => $HEADLESS), 'bot',
         '["ua:headless-chrome"]', 'HeadlessChrome: bot');
is_class(check($ng, ip => '198.51.100.20',
               ua => 'Mozilla/5.0 (compatible; Googlebot/2.1; '
                     . '+http://www.google.com/bot.html)'),
         'bot', '["ua:crawler"]', 'Googlebot: bot');
is_class(check($ng, ip => '198.51.100.20'), 'bot', '["ua:missing"]',
         'no user agent: bot');
is_class(check($ng, ip => '198.51.100.20', ua => 'GoogleImageProxy',
               args => { kind => 'open' }),
         'prefetch', '["ua:image-proxy"]', "an open through Gmail's proxy");

# EOP detonating the link of one message, three times (as every link of
# the email): the second is too fast, the third a burst too
my @eop = map {
    check($ng, ip => "40.107.5.$_", ua => $CHROME,
          args => { key => 'aB3dE5f', campaign => 'spring' })
} 1 .. 3;
is_class($eop[0], 'scanner', '["net:microsoft-eop:certain"]',
         'EOP burst: the first hit');
is_class($eop[1], 'scanner', '["net:microsoft-eop:certain","timing:too-fast"]',
         'EOP burst: the second, too fast after the first');
is_class($eop[2], 'scanner',
         '["net:microsoft-eop:certain","timing:burst","timing:too-fast"]',
         'EOP burst: the third, a burst (the workers share the table)');

# a scanner nobody listed: the timing alone gives it away
is_class(check($ng, ip => '192.0.2.44', ua => $CHROME,
               args => { key => 'Zz9Yy8x' }), 'human', '[]',
         'an unlisted scanner: its first hit cannot be told');
is_class(check($ng, ip => '192.0.2.44', ua => $CHROME,
               args => { key => 'Zz9Yy8x' }), 'scanner',
         '["timing:too-fast"]', 'its second is too fast');

# five leads of one campaign within the window: a campaign burst
my @camp = map {
    check($ng, ip => "192.0.2.$_", ua => $CHROME,
          args => { key => "camp00$_", campaign => 'autumn' })
} 1 .. 5;
is_class($camp[3], 'human', '[]', 'four leads of a campaign: human');
is_class($camp[4], 'scanner', '["timing:campaign-burst"]',
         'the fifth: a campaign burst');

# page requests: navigator.webdriver, and a visitor's burst
is_class(check($ng, method => 'POST', ip => '198.51.100.30', ua => $CHROME,
               args => { kind => 'page', key => 'vis1' }), 'human', '[]',
         'a page request from a browser: human');
is_class(check($ng, method => 'POST', ip => '198.51.100.30', ua => $CHROME,
               args => { kind => 'page', key => 'vis2', webdriver => 1 }),
         'bot', '["webdriver"]', 'navigator.webdriver: bot');
my @page = map {
    check($ng, method => 'POST', ip => '198.51.100.31', ua => $CHROME,
          args => { kind => 'page', key => 'vis3' })
} 1 .. 4;
is_class($page[2], 'human', '[]', 'three page requests of a visitor: human');
is_class($page[3], 'bot', '["timing:burst"]', 'the fourth: a burst, bot');

is(check($ng, ip => '198.51.100.20', ua => $CHROME,
         args => { kind => 'mail' })->{code}, 400, 'an unknown kind: 400');

# oie_classify off, oie_ip_anonymize on
$r = check($ng, path => '/check-off', ip => '40.107.22.15', ua => $CHROME);
is($r->{class}, 'off', 'oie_classify off: no class');
$r = check($ng, path => '/check-anon', ip => '198.51.100.77', ua => $CHROME);
is($r->{body}{ip}, '198.51.100.0', 'oie_ip_anonymize: the last IPv4 octet');
$r = check($ng, path => '/check-anon',
           ip => '2001:db8:1234:5678:9abc:def0:1234:5678', ua => $CHROME);
is($r->{body}{ip}, '2001:db8:1234::', 'oie_ip_anonymize: the last 80 bits');
$r = check($ng, path => '/check-anon', ip => '40.107.22.15', ua => $CHROME);
ok($r->{class} eq 'scanner' && $r->{body}{ip} eq '40.107.22.0',
   'classification sees the full address, the row the anonymized one');

# the hits survive a reload with the same zone
check($ng, ip => '192.0.2.60', ua => $CHROME, args => { key => 'Rl0ad01' })
    for 1 .. 2;
$ng->reload;
for (1 .. 100) {
    last if $ng->error_log =~ /gracefully shutting down/;
    sleep 0.05;
}
is_class(check($ng, ip => '192.0.2.60', ua => $CHROME,
               args => { key => 'Rl0ad01' }), 'scanner',
         '["timing:burst","timing:too-fast"]',
         'after a reload the third hit is still the third');

# $oie_traffic_class in the access log
my @lines = do { open my $fh, '<', $log or die "$log: $!"; <$fh> };
ok((grep { /^human 198\.51\.100\.20$/ } @lines)
   && (grep { /^scanner 40\.107\.22\.15$/ } @lines),
   '$oie_traffic_class in the access log');

unlike($ng->error_log, qr/\[(alert|emerg|crit)\]/, 'no alerts in the log');
$ng->stop;

# ---------------------------------------------------------------------
# short windows, for "later": a sleep only ever makes time pass

my $ng2 = OIE::Nginx->new(workers => 1, http => <<H, server => <<S)->start;
$REALIP
    oie_scanner_networks $SHIPPED;
    oie_classify_timing window=150ms too_fast=150ms;
H
    location = /check { oie_classify_check; }
S

is_class(check($ng2, ip => '40.107.9.9', ua => $CHROME,
               args => { key => 'Lt3rCl1' }),
         'scanner', '["net:microsoft-eop:certain"]',
         "the gateway's click: scanner");
sleep 0.5;
is_class(check($ng2, ip => '198.51.100.88', ua => $CHROME,
               args => { key => 'Lt3rCl1' }),
         'human', '[]', 'the person clicks later from another address: human');
$ng2->stop;

# ---------------------------------------------------------------------
# timing off: no zone, no timing reasons

my $ng3 = OIE::Nginx->new(workers => 1, http => <<H, server => <<S)->start;
    oie_classify_timing off;
H
    location = /check { oie_classify_check; }
S
check($ng3, ua => $CHROME, args => { key => 'NoT1me0' }) for 1 .. 3;
is_class(check($ng3, ua => $CHROME, args => { key => 'NoT1me0' }),
         'human', '[]', 'oie_classify_timing off: no timing rules');
$ng3->stop;

done_testing();
