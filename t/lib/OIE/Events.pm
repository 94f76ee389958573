package OIE::Events;

# Helpers for tests about events: wire-format bodies the pixel would send,
# and the rows the file sink wrote.

use strict;
use warnings;

use Exporter 'import';
use JSON::PP ();

our @EXPORT_OK = qw(event body sink_rows sink_files part_files);

my $json = JSON::PP->new->canonical->utf8;

# event(type => 'scroll', depth => 50, ...): a valid event of that type
sub event {
    my (%o) = @_;
    my %ev = (
        type      => 'pageview',
        timestamp => 1732406400000,
        sessionId => 's1',
        visitorId => 'v1',
        url       => 'https://example.com/pricing',
        %o,
    );
    delete $ev{$_} for grep { !defined $ev{$_} } keys %ev;
    return \%ev;
}

# body(@events) or body(\%whole): the JSON text of a /t request
sub body {
    return $json->encode($_[0]) if @_ == 1 && ref $_[0] eq 'HASH'
                                   && exists $_[0]{events};
    return $json->encode({ events => [@_], meta => { sentAt => 1732406400100 } });
}

# "<time>-<pid>-<seq>": in time, then process, then sequence order
sub _file_order {
    my @k = map { [ $_, m{/(\d{8}T\d{6}Z)-(\d+)-(\d+)[^/]*$} ? ($1, $2, $3) : ($_, 0, 0) ] } @_;
    return map { $_->[0] } sort { $a->[1] cmp $b->[1] || $a->[2] <=> $b->[2]
                                  || $a->[3] <=> $b->[3] } @k;
}

sub sink_files {
    my ($dir, $table) = @_;
    $table //= 'events';
    my @f = _file_order(glob "$dir/$table/*.ndjson");
    return wantarray ? @f : scalar @f;
}

sub part_files {
    my ($dir, $table) = @_;
    $table //= 'events';
    my @f = _file_order(glob "$dir/$table/*.ndjson.part");
    return wantarray ? @f : scalar @f;
}

# every row in the completed files of a table, decoded, in file order
sub sink_rows {
    my ($dir, $table) = @_;
    my @rows;
    for my $file (sink_files($dir, $table)) {
        open my $fh, '<', $file or die "$file: $!";
        while (my $line = <$fh>) {
            chomp $line;
            push @rows, JSON::PP->new->utf8->decode($line);
        }
    }
    return wantarray ? @rows : scalar @rows;
}

1;
