package OIE::BQTest;

# What the BigQuery tests share: posting tagged events to /t, and checking
# that every one of them reached the stand-in exactly once.
#
#   send_events($ng, 'down', 200);        # visitorId down-1 .. down-200
#   send_events($ng, 'rl', 50, 51);       # rl-51 .. rl-100
#   stored_once($bq, 'down', 200, 'after recovery');   # two Test::More tests
#   my @lines = journal_lines($bq, $spool, $pid, 20);  # its uploads in flight

use strict;
use warnings;

use Exporter 'import';
use Test::More;
use OIE::Events qw(event body);

our @EXPORT_OK = qw(send_events stored_once journal_lines);

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

1;
