# One version everywhere: VERSION, the newest entry of CHANGELOG.md, the
# module (its start line in the error log, "version" in the status) and
# `oie --version`; and CHANGELOG.md in the Keep a Changelog layout.
use strict;
use warnings;
use FindBin;
BEGIN { push @INC, "$FindBin::Bin/lib" }
use Test::More;
use OIE::Env;
use OIE::Nginx;
use OIE::Deploy qw(slurp root module_so);

my $ROOT = root();
my $version = slurp("$ROOT/VERSION");
chomp $version;
like($version, qr/^\d+\.\d+\.\d+(?:-[\w.]+)?$/, "VERSION is a semantic version ($version)");

subtest 'CHANGELOG.md' => sub {
    my $log = slurp("$ROOT/CHANGELOG.md");
    like($log, qr/^# Changelog\n/, 'titled Changelog');
    like($log, qr/keepachangelog\.com/, 'says it follows Keep a Changelog');
    my @heads = $log =~ /^## (.*)$/mg;
    is($heads[0], '[Unreleased]', 'first: [Unreleased]');
    my @released = grep { $_ ne '[Unreleased]' } @heads;
    ok(@released, scalar(@released) . ' released versions');
    for (@released) {
        like($_, qr/^\[\d+\.\d+\.\d+(?:-[\w.]+)?\] - \d{4}-\d\d-\d\d$/, "\"## $_\": [version] - date");
    }
    my ($newest) = ($released[0] // '') =~ /^\[([^\]]+)\]/;
    is($newest, $version, 'the newest entry is VERSION');
    my %kinds = map { $_ => 1 } qw(Added Changed Deprecated Removed Fixed Security);
    my @sub = $log =~ /^### (.*)$/mg;
    ok(@sub, 'entries have sections');
    ok($kinds{$_}, "\"### $_\" is a Keep a Changelog section") for @sub;
    my @dates = map { /(\d{4}-\d\d-\d\d)$/ } @released;
    is_deeply(\@dates, [sort { $b cmp $a } @dates], 'newest first');
};

subtest 'the CLI' => sub {
    my $bin = $ENV{OIE_BIN} || "$ROOT/build/oie";    # make test SAN=1: build-san/
    my $out = `$bin --version 2>&1`;
    is($?, 0, 'oie --version: exit 0');
    like($out, qr/^oie \Q$version\E$/m, "oie --version says $version");
};

subtest 'the module' => sub {
    plan skip_all => 'no module: run make first' unless -f module_so();
    my ($define) = slurp("$ROOT/src/ngx_http_oie_module.h") =~ /define\s+OIE_VERSION\s+"([^"]+)"/;
    is($define, $version, 'OIE_VERSION in src/ngx_http_oie_module.h');
    my $ng = OIE::Nginx->new(workers => 1, http => 'oie_sink file $EVENTS;')->start;
    my $st = $ng->status;
    is($st && $st->{version}, $version, '"version" in the status');
    my ($nginx_v) = `$OIE::Nginx::Binary -v 2>&1` =~ m{nginx/([\d.]+)};
    like($ng->error_log,
         qr{\[notice\] .*oie: ngx_http_oie_module/\Q$version\E \(nginx/\Q$nginx_v\E\)},
         "the error log at start: ngx_http_oie_module/$version (nginx/$nginx_v)");
    $ng->quit;
};

done_testing;
