package OIE::Bench;
# What the bench scripts share: the median of a list, a wrk script that
# POSTs pageviews to /t the way pixel.js does, and pinning processes to a
# core (checked: a pid that is not there yet cannot be pinned).
#
#   my $lua = OIE::Bench::pageview_lua($dir, 'many', 10);   # 10 events a request
#   my $m = OIE::Bench::median(@figures);
#   OIE::Bench::pin_nginx($ng, 0);              # its master and every worker
#   OIE::Bench::pin(1, $bq->pid);
#   my $t = OIE::Bench::cpu_seconds(@pids);     # user + system CPU so far

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

# the user and system CPU time the pids have used so far, in seconds (a
# pid that is gone counts 0)
sub cpu_seconds {
    my $ticks = 0;
    for my $pid (@_) {
        open my $fh, '<', "/proc/$pid/stat" or next;
        my $stat = <$fh> // next;
        # the fields after the command's closing parenthesis: utime is the
        # 12th of them, stime the 13th
        my @f = split ' ', substr($stat, rindex($stat, ')') + 2);
        $ticks += $f[11] + $f[12];
    }
    return $ticks / 100;    # USER_HZ, 100 on Linux
}

# pins the pids to one core, and dies unless each of them is on it
sub pin {
    my ($core, @pids) = @_;
    for my $pid (@pids) {
        system("taskset -pc $core $pid >/dev/null") == 0
            or die "taskset -pc $core $pid failed\n";
        open my $st, '<', "/proc/$pid/status" or die "/proc/$pid/status: $!\n";
        my ($cpus) = join('', <$st>) =~ /^Cpus_allowed_list:\s*(\S+)/m;
        die "pid $pid runs on cores $cpus, not $core\n" unless ($cpus // '') eq $core;
    }
}

# an OIE::Nginx's master and all its workers (started: none missing)
sub pin_nginx {
    my ($ng, $core) = @_;
    my @workers = $ng->worker_pids;
    die 'nginx has ' . scalar(@workers) . " workers, not $ng->{workers}: cannot pin them\n"
        unless @workers == $ng->{workers};
    pin($core, $ng->pid, @workers);
}

# the helper that drains with oie_drain_process on (bounded wait: the
# master starts it after the workers)
sub pin_helper {
    my ($ng, $core) = @_;
    my @helpers;
    for (1 .. 50) {
        last if @helpers = $ng->helper_pids;
        select undef, undef, undef, 0.1;
    }
    die "nginx has no cache manager process to pin\n" unless @helpers == 1;
    pin($core, @helpers);
}

1;
