# The memory-checker hook of the runners (t/lib/Test/Nginx/Sanitize.pm): a
# sanitizer or valgrind report written while a test file runs fails that
# file with the report shown; empty or older reports do not; the prefix
# command reaches the nginx that is started, valgrind only on start.
use strict;
use warnings;
use FindBin;
BEGIN { push @INC, "$FindBin::Bin/lib" }
use Test::More;
use File::Temp qw(tempdir);
use OIE::Env;

my $lib = "$FindBin::Bin/lib";

# runs a small test file in a child perl with the given environment;
# returns (exit status, output)
sub child {
    my ($code, %env) = @_;
    my $dir = tempdir(CLEANUP => 1);
    open my $fh, '>', "$dir/child.t" or die $!;
    print $fh "use strict; use warnings; use lib '$lib';\n"
              . "use Test::More; use Test::Nginx::Sanitize ();\n$code\n";
    close $fh;
    local @ENV{ keys %env } = values %env;
    my $out = `$^X $dir/child.t 2>&1`;
    return ($? >> 8, $out);
}

my $reports = tempdir(CLEANUP => 1);

my ($rc, $out) = child(<<"C", TEST_NGINX_REPORT_DIR => $reports);
ok(1, 'first');
open my \$r, '>', "$reports/asan.4242" or die;
print \$r "==4242==ERROR: AddressSanitizer: heap-buffer-overflow\\n    #0 in f\\n";
close \$r;
done_testing();
C
isnt($rc, 0, 'a report written during the run fails the file');
like($out, qr/^not ok 2 - no memory error reported by nginx \(.*asan\.4242\)/m,
     'as a failing test that names the report');
like($out, qr/# ==4242==ERROR: AddressSanitizer: heap-buffer-overflow/,
     'with the report in the diagnostics');

unlink "$reports/asan.4242";
($rc, $out) = child(<<"C", TEST_NGINX_REPORT_DIR => $reports);
ok(1, 'first');
open my \$r, '>', "$reports/valgrind.77" or die;
close \$r;
open \$r, '>', "$reports/notes.txt" or die;
print \$r "not a report\\n";
close \$r;
done_testing();
C
is($rc, 0, 'an empty valgrind log and other files do not fail it') or diag $out;

open my $old, '>', "$reports/ubsan.99" or die;
print $old "runtime error: old\n";
close $old;
utime time - 3600, time - 3600, "$reports/ubsan.99";
($rc, $out) = child("ok(1); done_testing();", TEST_NGINX_REPORT_DIR => $reports);
is($rc, 0, 'a report from before the file started is not its own') or diag $out;

# a UBSan report nginx's stderr took into its error.log
my $log = "$reports/error.log";
open my $el, '>', $log or die;
print $el "2026/11/25 09:40:38 [notice] 1#1: start worker process 2\n"
        . "src/x.c:451:46: runtime error: signed integer overflow\n"
        . "    #0 0x7f in f src/x.c:451\n";
close $el;
($rc, $out) = child(<<"C");
ok(1);
Test::Nginx::Sanitize::scan_log('$log');
Test::Nginx::Sanitize::scan_log('$log');
done_testing();
C
isnt($rc, 0, 'a runtime error line in an error.log fails the file');
like($out, qr/^not ok 2 - no memory error reported by nginx \(.*error\.log \(line 2\)\)/m,
     'naming the log and the line');
unlike($out, qr/^not ok 3/m, 'once, however often the log is read');
like($out, qr/# src\/x\.c:451:46: runtime error/, 'with the report');

($rc, $out) = child(<<"C");
ok(1);
Test::Nginx::Sanitize::watch_log('$log');
done_testing();
C
isnt($rc, 0, 'a watched log is read at the end');

open $el, '>', $log or die;
print $el "2026/11/25 [error] 1#1: *5 client sent: runtime error: x\n";
close $el;
($rc, $out) = child("ok(1); Test::Nginx::Sanitize::scan_log('$log'); done_testing();");
is($rc, 0, 'nginx lines that merely mention the words do not count') or diag $out;

my %vg = (TEST_NGINX_PREFIX_CMD => 'env A=1  B=2', TEST_NGINX_USE_VALGRIND => 1);
($rc, $out) = child(<<'C', %vg);
is_deeply([Test::Nginx::Sanitize::prefix()], [qw(env A=1 B=2)], 'prefix words');
my @start = Test::Nginx::Sanitize::prefix(start => 1);
is_deeply([@start[0 .. 3]], [qw(env A=1 B=2 valgrind)], 'valgrind only when starting');
ok((grep { m{^--suppressions=.*/t/valgrind\.supp$} } @start), 'with t/valgrind.supp');
ok((grep { m{^--log-file=.*/valgrind\.%p$} } @start), 'logging to the report dir');
is($ENV{TEST_NGINX_TIMEOUT}, 30, 'timeouts raised for valgrind');
done_testing();
C
is($rc, 0, 'prefix() and the valgrind words') or diag $out;

# the prefix reaches every nginx run OIE::Nginx makes: a wrapper that
# notes its arguments, then runs nginx
{
    my $dir = tempdir(CLEANUP => 1);
    open my $w, '>', "$dir/wrap" or die $!;
    print $w "#!/bin/sh\necho \"\$*\" >> $dir/calls\nexec \"\$@\"\n";
    close $w;
    chmod 0755, "$dir/wrap";
    require OIE::Nginx;
    @Test::Nginx::Sanitize::Prefix = ("$dir/wrap");
    my $ng = OIE::Nginx->new(workers => 1)->start;
    ok($ng->pid, 'nginx started through the prefix');
    my ($code) = $ng->request('GET', '/status');
    is($code, 200, 'and answers');
    $ng->signal('quit');
    open my $fh, '<', "$dir/calls" or die "no calls: $!";
    my @calls = <$fh>;
    is(scalar @calls, 2, 'start and -s quit went through the prefix');
    like($calls[0], qr{nginx\S* -p \S+ -c conf/nginx\.conf\s*$}, 'the start');
    like($calls[1], qr{-s quit$}, 'the signal');
    @Test::Nginx::Sanitize::Prefix = ();
}

done_testing();
