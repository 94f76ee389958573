package Test::Nginx::Sanitize;

# Running nginx under a memory checker, for both runners (Test::Nginx::Util
# and OIE::Nginx): the command words put before the nginx binary, and, at
# the end of a test file, a failing test for every report a sanitizer or
# valgrind wrote.  Loading it changes nothing unless one of the variables
# below is set.  See the POD at the end.

use strict;
use warnings;

use File::Spec ();
use File::Temp ();

our $Owner = $$;
our $Started = time;
our $UseValgrind = $ENV{TEST_NGINX_USE_VALGRIND} ? 1 : 0;
our $ReportDir = $ENV{TEST_NGINX_REPORT_DIR};
our @Prefix = grep { length } split ' ', ($ENV{TEST_NGINX_PREFIX_CMD} // '');

if ($UseValgrind) {
    # nginx under valgrind starts and answers ten to fifty times slower
    $ENV{TEST_NGINX_TIMEOUT} //= 30;
    $ENV{TEST_NGINX_STOP_TIMEOUT} //= 60;

    if (!defined $ReportDir) {
        $ReportDir = File::Temp::tempdir('oie-valgrind-XXXXXX', TMPDIR => 1,
                                         CLEANUP => 1);
    }
}

sub _root {
    my $dir = File::Spec->rel2abs(__FILE__);
    $dir =~ s{/t/lib/Test/Nginx/Sanitize\.pm$}{};
    return $ENV{OIE_ROOT} || $dir;
}

sub valgrind_args {
    my $supp = _root() . '/t/valgrind.supp';
    my @args = ('valgrind', '-q', '--tool=memcheck', '--error-limit=no',
                '--num-callers=30', '--leak-check=no',
                '--track-origins=yes',
                "--log-file=$ReportDir/valgrind.%p");
    push @args, "--suppressions=$supp" if -f $supp;
    push @args, split ' ', $ENV{TEST_NGINX_VALGRIND_OPTS}
        if $ENV{TEST_NGINX_VALGRIND_OPTS};
    return @args;
}

# prefix(start => 1): the words to put before the nginx binary.  Only the
# run that starts the server goes under valgrind; "nginx -s", "-t" and
# "-V" get TEST_NGINX_PREFIX_CMD alone.
sub prefix {
    my (%o) = @_;
    my @words = @Prefix;
    push @words, valgrind_args() if $UseValgrind && $o{start};
    return @words;
}

# the reports written since this test file started: [path, text]
sub reports {
    return () if !defined $ReportDir || !-d $ReportDir;
    opendir my $dh, $ReportDir or return ();
    my @found;
    for my $name (sort readdir $dh) {
        next unless $name =~ /^(?:asan|ubsan|valgrind)\.\d+$/;
        my $path = "$ReportDir/$name";
        my @st = stat $path or next;
        next if $st[7] == 0 || $st[9] < $Started;
        open my $fh, '<', $path or next;
        local $/;
        my $text = <$fh> // '';
        close $fh;
        push @found, [$path, $text];
    }
    closedir $dh;
    return @found;
}

# UBSan (and ASan when it cannot open its log_path) write to stderr, which
# nginx points at its error.log: the runners hand their logs in here, when
# nginx stopped (block tests wipe the server root between blocks) or for
# scanning at the end (OIE::Nginx prefixes live until then)
our %Watched;
our %Seen;
our @LogReports;

# (ASan's "Can't open file": its report directory was not writable by the
# worker, and the report is lost)
my $MARK = join '|', '==\d+==ERROR: (?:Address|Leak)Sanitizer',
                     'ERROR: Can\'t open file: ',
                     '\S+:\d+:\d+: runtime error: ',
                     'SUMMARY: (?:Address|UndefinedBehavior|Leak)Sanitizer';
$MARK = qr/^(?:$MARK)/;

sub watch_log {
    my ($path) = @_;
    $Watched{$path} = 1;
}

sub scan_log {
    my ($path) = @_;
    open my $fh, '<', $path or return;
    my @lines = <$fh>;
    close $fh;
    for my $i (0 .. $#lines) {
        next unless $lines[$i] =~ $MARK;
        my $key = "$path\0$lines[$i]";
        next if $Seen{$key}++;
        my $end = $i + 40 > $#lines ? $#lines : $i + 40;
        push @LogReports, ["$path (line " . ($i + 1) . ')',
                           join '', @lines[$i .. $end]];
    }
}

sub check {
    return if $$ != $Owner;
    scan_log($_) for sort keys %Watched;
    my @found = (reports(), @LogReports) or return;
    require Test::More;
    for my $r (@found) {
        my @lines = split /\n/, $r->[1];
        splice @lines, 80 if @lines > 80;
        Test::More::ok(0, "no memory error reported by nginx ($r->[0])");
        Test::More::diag(join "\n", @lines);
    }
}

END {
    # after the runners' own END blocks stopped nginx (they were compiled
    # later, so they run first): every report is complete by now
    local $?;
    check();
}

1;
__END__

=head1 NAME

Test::Nginx::Sanitize - run nginx under ASan, UBSan or valgrind in tests

=head1 SYNOPSIS

    # the runners load it; test files do not need to
    TEST_NGINX_USE_VALGRIND=1 prove t/track.t

    # what scripts/run-tests.sh does for make test SAN=1
    TEST_NGINX_BINARY=build-san/nginx-san TEST_NGINX_REPORT_DIR=build-san/san-reports \
        prove t/track.t

=head1 DESCRIPTION

Both runners (L<Test::Nginx::Util> for block tests and F<t/lib/OIE/Nginx.pm>
for the others) start nginx through C<prefix()> and load this module, whose
C<END> block turns every report into a failing test of the test file that
produced it, with the report as its diagnostics.

=over

=item TEST_NGINX_PREFIX_CMD

Words put before the nginx binary in every run of it that reads the
configuration (start, C<-s>, C<-t>), e.g. C<env LD_PRELOAD=...> or
C<strace -f -o /tmp/trace>.

=item TEST_NGINX_USE_VALGRIND

Starts nginx under valgrind's memcheck (C<-q>, no leak check: nginx frees
its pools with the process), with the suppressions of F<t/valgrind.supp>
and TEST_NGINX_VALGRIND_OPTS added. Block tests run nginx as one process
(master off, daemon on: valgrind follows the daemon's fork). Raises the
default TEST_NGINX_TIMEOUT to 30 and TEST_NGINX_STOP_TIMEOUT to 60.
Reports go to TEST_NGINX_REPORT_DIR, else a temporary directory.

=item TEST_NGINX_REPORT_DIR

Where sanitizer and valgrind reports are written and looked for: files
named C<asan.PID>, C<ubsan.PID> and C<valgrind.PID> (ASan's and UBSan's
C<log_path=DIR/asan> and C<DIR/ubsan> produce these names). Any such file
that is not empty and was written while the test file ran fails it. ASan
opens its file at its first report, in a worker that may already run as
an unprivileged user: the directory must be writable by that user
(scripts/run-tests.sh makes its own mode 1777), or the report is lost
(ASan's "Can't open file" in error.log still fails the file).

=back

Reports nginx's stderr took (UBSan's, whatever the variables say: nginx
hides the environment from it) are found in the error logs the runners
hand in: C<scan_log(PATH)> reads one now (Test::Nginx::Util does, each
time it stopped nginx), C<watch_log(PATH)> has it read at the end
(OIE::Nginx does, for each server it makes). A sanitizer's report line in
one fails the file like a report file does.

=cut
