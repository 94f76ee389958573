package OIE::BQTest;

# What the BigQuery tests share: posting tagged events to /t, and checking
# that every one of them reached the stand-in exactly once.
#
#   send_events($ng, 'down', 200);        # visitorId down-1 .. down-200
#   send_events($ng, 'rl', 50, 51);       # rl-51 .. rl-100
#   stored_once($bq, 'down', 200, 'after recovery');   # two Test::More tests
#   my @lines = journal_lines($bq, $spool, $pid, 20);  # its uploads in flight
#   spool_file($spool, 'uc', 5);          # a ready spool file of uc-1 .. uc-5,
#                                         # as a process that is gone left it

use strict;
use warnings;

use Exporter 'import';
use Test::More;
use OIE::Events qw(event body);

our @EXPORT_OK = qw(send_events stored_once journal_lines dead_pid spool_lines spool_file);

my %json = ('Content-Type' => 'application/json');

# one event a request, visitorId "<tag>-<i>"; how many were answered 204
sub send_events {
    my ($ng, $tag, $n, $from) = @_;
    $from //= 1;
    my $ok = 0;
    for my $i ($from .. $from + $n - 1) {
        my ($code) = $ng->request('POST', '/t', headers => \%json,
                                  body => body(event(visitorId => "$tag-$i")));
        $ok++ if $code == 204;
    }
    return $ok;
}

# waits (30 s at most) until $n events "<tag>-<i>" are in the events table;
# passes if all are there and none twice
sub stored_once {
    my ($bq, $tag, $n, $what) = @_;
    my %seen;
    $bq->wait_for(sub {
        %seen = ();
        $seen{$_->{json}{visitor_id}}++
            for grep { $_->{json}{visitor_id} =~ /^\Q$tag\E-\d+$/ } @{ $bq->rows('events') };
        keys(%seen) >= $n;
    }, 30);
    my $all = is(scalar keys %seen, $n, "$what: all $n events stored");
    my $once = is(scalar(grep { $_ > 1 } values %seen), 0, "$what: none stored twice");
    return $all && $once;
}

# the lines of process $pid's upload journals in $spool, once there are $n
# of them (20 s at most)
sub journal_lines {
    my ($bq, $spool, $pid, $n) = @_;
    my @lines;
    $bq->wait_for(sub {
        @lines = map { open my $fh, '<', $_ or (); <$fh> } glob "$spool/*-$pid-*.journal";
        @lines >= $n;
    }, 20);
    return @lines;
}

# the pid of a process that is gone
sub dead_pid {
    my $pid = fork // die "fork: $!";
    if (!$pid) { require POSIX; POSIX::_exit(0) }
    waitpid $pid, 0;
    return $pid;
}

# n spool lines (table, space, row) of events <tag>-<from> .. <tag>-<from+n-1>
sub spool_lines {
    my ($tag, $pid, $n, $from) = @_;
    $from //= 1;
    return map {
        sprintf 'events {"event_id":"%s-%s-%d","event_type":"pageview",'
              . '"event_time":"2024-11-24T00:00:00.000Z","received_at":"2024-11-24T00:00:01.000Z",'
              . '"session_id":"s","visitor_id":"%s-%d","url":"https://e.example/"}' . "\n",
              $tag, $pid, $_, $tag, $_
    } $from .. $from + $n - 1;
}

# a ready spool file of a process that is gone, written whole and then
# renamed into place as the module does; $seq orders files (the oldest is
# replayed first); returns its path
sub spool_file {
    my ($spool, $tag, $n, $from, $seq) = @_;
    $seq //= 1;
    my $dead = dead_pid();
    my $file = sprintf '%s/20240101T0000%02dZ-%d-%06d.spool', $spool, $seq % 60, $dead, $seq;
    open my $fh, '>', "$file.tmp" or die "$file: $!";
    print $fh spool_lines($tag, $dead, $n, $from);
    close $fh or die "$file: $!";
    rename "$file.tmp", $file or die "rename $file: $!";
    return $file;
}

1;
