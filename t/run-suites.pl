#!/usr/bin/perl
# One harness over every kind of test: *.t with perl, the unit tests
# ($OIE_BUILD_DIR/unit/test_*: build/, or build-san/ for make test SAN=1)
# as executables, *.test.mjs with node's test runner.  Prints one summary
# line "N passed, N failed" (tests, not files), and exits 1 on any failure.

use strict;
use warnings;
use File::Find;
use TAP::Harness;

my @files = @ARGV;

if (!@files) {
    find({ wanted => sub { push @files, $File::Find::name if /\.t$/ },
           no_chdir => 1 }, 't');
    my $build = $ENV{OIE_BUILD_DIR} || 'build';
    push @files, glob("$build/unit/test_*");
    for my $dir (qw(pixel/test sql/test t/bqstub/test)) {
        next unless -d $dir;
        find({ wanted => sub {
                   push @files, $File::Find::name if /\.test\.mjs$/
                       && $File::Find::name !~ /node_modules/;
               }, no_chdir => 1 }, $dir);
    }
    @files = sort grep { !m{/servroot} && !m{/fixtures/} } @files;
}

my $harness = TAP::Harness->new({
    verbosity => ($ENV{TEST_VERBOSE} ? 1 : 0),
    lib       => [],
    exec      => sub {
        my ($h, $file) = @_;
        return [qw(node --test --test-reporter=tap), $file]
            if $file =~ /\.mjs$/;
        return [$file] if $file =~ m{/unit/test_\w+$};
        return undef;
    },
});

my $agg = $harness->runtests(@files);

my ($passed, $failed) = (0, 0);
for my $desc ($agg->descriptions) {
    my ($parser) = $agg->parsers($desc);
    $passed += scalar $parser->passed;
    $failed += scalar $parser->failed;
    # a crash, a wrong plan or a non-zero exit counts as a failure too
    $failed++ if !$parser->failed
        && ($parser->has_problems || $parser->exit || $parser->wait);
}

# make test SAN=1: every nginx writes its sanitizer reports to one
# directory.  A test file fails on those written while it ran; this catches
# the rest (an nginx that a node test or make run started), one failure
# each (one a test file failed on counts again: the run fails either way).
my $reports = $ENV{TEST_NGINX_REPORT_DIR};
if (defined $reports && opendir my $dh, $reports) {
    for my $name (sort grep { /^(?:asan|ubsan|valgrind)\.\d+$/ } readdir $dh) {
        my $path = "$reports/$name";
        next unless -s $path;
        open my $fh, '<', $path or next;
        my @lines = <$fh>;
        splice @lines, 40 if @lines > 40;
        print "\nsanitizer report $path:\n", @lines;
        $failed++;
    }
}

print "\n$passed passed, $failed failed\n";
exit($failed ? 1 : 0);
