package OIE::Bench;
# What the bench scripts share: the median of a list, and a wrk script that
# POSTs pageviews to /t the way pixel.js does.
#
#   my $lua = OIE::Bench::pageview_lua($dir, 'many', 10);   # 10 events a request
#   my $m = OIE::Bench::median(@figures);

use strict;
use warnings;

sub median {
    my @v = sort { $a <=> $b } @_;
    return 0 unless @v;
    return @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2;
}

sub pageview_lua {
    my ($dir, $name, $n) = @_;
    my @events = map {
        qq({"type":"pageview","timestamp":1732406400000,"sessionId":"s_8f2k1m","visitorId":"aB3dE9x","leadId":"aB3dE9x","url":"https://example.com/pricing?p=$_","referrer":"https://mail.google.com/","title":"Pricing - Example","utmSource":"email","utmMedium":"cold-email","utmCampaign":"q1-outbound"})
    } 1 .. $n;
    my $body = '{"events":[' . join(',', @events) . '],"meta":{"sentAt":1732406400100}}';
    open my $lua, '>', "$dir/$name.lua" or die "$dir/$name.lua: $!";
    print $lua qq(wrk.method = "POST"\nwrk.headers["Content-Type"] = "text/plain;charset=UTF-8"\n)
             . qq(wrk.body = '$body'\n);
    close $lua;
    return "$dir/$name.lua";
}

1;
