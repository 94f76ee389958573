# The libFuzzer harnesses of fuzz/, briefly, as part of make test: each is
# built with ASan and UBSan, run once over its seeds and every input of a
# past finding (fuzz/regress/), then fuzzed for FUZZ_SMOKE_SECONDS (1 here).
# make fuzz runs them for real; scripts/fuzz.sh says how.
use strict;
use warnings;
use FindBin;
use Test::More;

my $root = "$FindBin::Bin/..";
chdir $root or die "$root: $!";

my $cc = $ENV{FUZZ_CC} || 'clang';
my $probe = system("echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n)"
                   . " { return 0; }' | $cc -x c -fsanitize=fuzzer -o /dev/null -"
                   . " >/dev/null 2>&1");
plan skip_all => "$cc with libFuzzer is not installed (Debian: clang); "
               . 'the fuzz harnesses were not run'
    if $probe != 0;

my $out = `scripts/fuzz.sh build 2>&1`;
is($?, 0, 'every harness builds') or diag $out;

my @names = split /\n/, `scripts/fuzz.sh list`;
ok(@names >= 12, 'harnesses: ' . join ' ', @names);

# one run over all of them (one build); the table has a line each
local $ENV{FUZZ_SMOKE_SECONDS} = $ENV{FUZZ_SMOKE_SECONDS} // 1;
my $err = "/tmp/oie-fuzz-smoke-$$.err";
my $table = `scripts/fuzz.sh smoke 2>$err`;
my $rc = $? >> 8;
my $log = do { local $/; open my $fh, '<', $err; <$fh> } // '';
unlink $err;
is($rc, 0, 'no harness found anything') or diag $log;

for my $name (@names) {
    my ($stored, $execs, $secs) =
        $table =~ /^\Q$name\E\s+(\d+) stored inputs ok,\s+(\d+) executions in (\d+)s/m;
    ok(defined $stored, "$name: its seeds and regressions ("
                        . ($stored // '?') . ') ran clean');
    ok(($execs // 0) > 0, "$name: then " . ($execs // 0)
                          . " executions in ${\($secs // '?')}s");
}

done_testing();
