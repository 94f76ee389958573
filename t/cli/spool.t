#!/usr/bin/perl
# oie spool ls|replay through real parts: spool files written by nginx with
# the module while the BigQuery stand-in fails, and hand-written ones in the
# documented format; listed, then replayed into the stand-in over HTTP (it
# checks the JWT, the paths and every row against sql/schemas).  Claims of
# live and dead processes, .part files, upload journals, malformed lines
# (dead letters of an unknown table among them), 503 then recovery,
# BigQuery failing for good (rows put back), invalid rows to dead letter,
# --dead-letter replay, --dry-run, and bad arguments.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../lib";
use OIECli;
use OIE::Env;
use OIE::BQStub;
use OIE::Nginx;
use OIE::Events qw(event body);
use JSON::PP;
use POSIX qw(_exit);
use Test::More;
use Time::HiRes qw(sleep);

my $JSON = JSON::PP->new->utf8->canonical;
my $bq = OIE::BQStub->start;
my @BQ = ('--project', $bq->project, '--dataset', $bq->dataset,
          '--credentials', $bq->key_file,
          '--endpoint', $bq->url . '/bigquery/v2');

# --- rows and files in the module's format ------------------------------

my $n_row = 0;

sub ev_row {
    my ($id, %o) = @_;
    my $sec = sprintf '%02d', ++$n_row % 60;
    return { event_id => $id, event_type => 'page_view',
             event_time => "2024-11-24T10:00:$sec.000Z",
             received_at => '2024-11-24T10:01:00.000Z',
             visitor_id => 'v-spool', session_id => 's-spool',
             url => 'https://example.com/pricing', %o };
}

sub click_row {
    my ($id, %o) = @_;
    return { event_id => $id, event_type => 'click',
             event_time => '2024-11-24T09:00:00.000Z',
             received_at => '2024-11-24T09:00:01.000Z',
             outcome => 'redirect', campaign => 'q1', %o };
}

sub line {
    my ($table, $row) = @_;
    return "$table " . $JSON->encode($row) . "\n";
}

my $n_file = 0;

# spool_file($dir, $suffix, $pid, @lines): "<UTC time>-<pid>-<seq>$suffix"
sub spool_file {
    my ($dir, $suffix, $pid, @lines) = @_;
    my $name = sprintf '20241124T10%04dZ-%d-%06d.spool%s', $n_file, $pid,
                       $n_file, $suffix;
    $n_file++;
    write_file("$dir/$name", join '', @lines);
    return $name;
}

sub spool_dir {
    my $d = tmpdir();
    mkdir "$d/dead-letter";
    return $d;
}

sub names {
    my ($dir) = @_;
    opendir my $dh, $dir or die "$dir: $!";
    my @n = sort grep { !/^\.\.?$/ && $_ ne 'dead-letter' } readdir $dh;
    closedir $dh;
    return \@n;
}

# a pid that is gone: a child that exited and was reaped
sub dead_pid {
    my $pid = fork // die "fork: $!";
    _exit(0) if $pid == 0;
    waitpid $pid, 0;
    return $pid;
}

# insertId => times stored, for one table
sub stored {
    my ($table) = @_;
    my %n;
    for my $r (@{ $bq->rows($table) }) {
        is($r->{insertId}, $r->{json}{event_id},
           "$table: insertId is the event_id ($r->{insertId})")
            if !$n{ $r->{insertId} };
        $n{ $r->{insertId} }++;
    }
    return \%n;
}

sub ls_json {
    my ($dir) = @_;
    my ($rc, $out, $err) = oie('spool', 'ls', $dir, '--json');
    my $doc = eval { $JSON->decode($out) };
    ok($doc, 'ls --json prints JSON') or diag("$out\n$err");
    return ($rc, $doc, $err);
}

sub dead_letters {
    my ($path) = @_;
    return [] unless -e $path;
    return ndjson_read($path);
}

# --- spool files written by nginx -----------------------------------------

subtest 'nginx spools while BigQuery fails; ls lists it; replay sends it once' => sub {
    $bq->reset;
    my $spool = tmpdir();
    my $ng = OIE::Nginx->new(workers => 2, http => <<"H");
        oie_zone oie 4m;
        oie_sink bigquery project=@{[ $bq->project ]} dataset=@{[ $bq->dataset ]}
                 credentials=@{[ $bq->key_file ]}
                 endpoint=@{[ $bq->url ]}/bigquery/v2 timeout=2s;
        oie_spool $spool max_size=64m;
        oie_batch rows=10 interval=20ms;
H
    $ng->start;
    $bq->fault(status => 503, count => 1_000_000);

    my $sent = 0;
    for my $i (1 .. 40) {
        my ($code) = $ng->request('POST', '/t',
            headers => { 'Content-Type' => 'application/json' },
            body => body(event(visitorId => "ng-$i",
                               timestamp => 1732406400000 + $i * 1000)));
        $sent++ if $code == 204;
    }
    is($sent, 40, 'nginx took 40 events');
    ok($bq->wait_for(sub { $ng->status->{spool}{rows_spooled} >= 40 }, 60),
       'all 40 went to the spool');
    $ng->quit;
    ok(!$ng->pid, 'nginx is gone; its files are complete');
    $bq->clear_faults;
    $bq->reset;

    my ($rc, $doc) = ls_json($spool);
    is($rc, 0, 'ls exits 0');
    my @files = @{ $doc->{files} };
    ok(@files >= 1, scalar(@files) . ' spool files');
    is(scalar(grep { $_->{state} ne 'ready' } @files), 0, 'all ready');
    like($_->{name}, qr/^\d{8}T\d{6}Z-\d+-\d{6}\.spool$/, "name $_->{name}")
        for @files;
    is($doc->{totals}{rows}{events}, 40, 'totals: 40 events rows');
    is($doc->{totals}{rows}{email_clicks}, 0, 'totals: no email_clicks');
    is($doc->{totals}{malformed}, 0, 'totals: nothing malformed');
    my $bytes = 0;
    $bytes += -s "$spool/$_->{name}" for @files;
    is($doc->{totals}{bytes}, $bytes, "totals: $bytes bytes, as on disk");
    my @oldest = sort map { $_->{oldest_event_time} } @files;
    my @newest = sort map { $_->{newest_event_time} } @files;
    is($oldest[0], '2024-11-24T00:00:01.000Z', 'oldest event time');
    is($newest[-1], '2024-11-24T00:00:40.000Z', 'newest event time');

    my $out;
    ($rc, $out) = oie('spool', 'ls', $spool);
    is($rc, 0, 'ls (table) exits 0');
    like($out, qr/^FILE\s+STATE\s+EVENTS\s+EMAIL_CLICKS\s+MALFORMED\s+BYTES/m,
         'a header line');
    like($out, qr/^\S+\.spool\s+ready\s+\d+\s+0\s+0\s+\d+\s+2024-11-24T/m,
         'a line per file');
    like($out, qr/^total: \d+ spool files \(\d+ ready, 0 being written, 0 claimed, 0 journals\), 40 rows \(events 40, email_clicks 0\), 0 malformed lines, $bytes bytes/m,
         'the totals line');

    my $err;
    ($rc, $out, $err) = oie('spool', 'replay', $spool, @BQ);
    is($rc, 0, 'replay exits 0') or diag($err);
    like($err, qr/40 accepted, 0 rejected/, 'summary: 40 accepted');
    my $n = stored('events');
    my @ng = grep { $_->{json}{visitor_id} =~ /^ng-\d+$/ } @{ $bq->rows('events') };
    is(scalar @ng, 40, 'all 40 events stored');
    is(scalar(grep { $_ > 1 } values %$n), 0, 'none twice');
    is_deeply(names($spool), [], 'the spool files are deleted');

    ($rc, $out, $err) = oie('spool', 'replay', $spool, @BQ);
    is($rc, 0, 'a second replay finds nothing to do');
    like($err, qr/0 files .*0 rows/, 'and says so');
    is(scalar @{ $bq->rows('events') }, 40, 'still 40 rows');
};

subtest 'a spool emptied from outside (replayed elsewhere): nginx takes rows again' => sub {
    $bq->reset;
    my $spool = tmpdir();
    my $moved = tmpdir();
    my $ng = OIE::Nginx->new(workers => 1, http => <<"H");
        oie_zone oie 4m;
        oie_sink bigquery project=@{[ $bq->project ]} dataset=@{[ $bq->dataset ]}
                 credentials=@{[ $bq->key_file ]}
                 endpoint=@{[ $bq->url ]}/bigquery/v2 timeout=2s;
        oie_spool $spool max_size=1m;
        oie_batch rows=10 interval=20ms;
H
    $ng->start;
    $bq->fault(status => 503, count => 1_000_000);
    my $post = sub {
        my ($tag, $n) = @_;
        for my $k (1 .. $n) {
            $ng->request('POST', '/t',
                headers => { 'Content-Type' => 'application/json' },
                body => body(map { event(visitorId => "$tag-$k-$_",
                                         timestamp => 1732406400000 + $_) }
                             1 .. 100));
        }
    };
    # more than 1 MB of rows: the spool fills, the rest is dropped
    $post->('full', 40);
    ok($bq->wait_for(sub { ($ng->status->{dropped} // 0) > 0 }, 60),
       'the spool filled: rows dropped (' . ($ng->status->{dropped} // 0) . ')');
    # an operator takes the files away to replay them elsewhere, each one
    # once it is ready, until every row of those requests is accounted for:
    # none left in the ring or in an upload (its journal: uploads retry for
    # seconds, then spool or drop their rows), none in a file being written
    # (.part) or in one nginx is replaying (a claim, put back when it fails)
    my $emptied = $bq->wait_for(sub {
        rename("$spool/$_", "$moved/$_")
            for grep { /\.spool$/ } @{ names($spool) };
        $ng->status->{ring}{events} == 0 && !@{ names($spool) };
    }, 120);
    ok($emptied, 'the spool emptied from outside, nothing in flight')
        or diag("left: @{ names($spool) }");
    my $s = $ng->status;
    my ($dropped, $spooled) = ($s->{dropped}, $s->{spool}{rows_spooled});
    # nginx counts the files again at most once a second, by its clock (the
    # one uptime_ms is read from): a second of it since it last refused rows
    ok($bq->wait_for(sub {
           $ng->status->{uptime_ms} >= $s->{uptime_ms} + 1000 }, 60),
       'a second later by nginx\'s clock');
    $post->('after', 1);
    ok($bq->wait_for(sub { $ng->status->{spool}{rows_spooled} >= $spooled + 100 }, 30),
       'new rows go to the spool again');
    is($ng->status->{spool}{rows_spooled}, $spooled + 100, '... those 100');
    is($ng->status->{dropped}, $dropped, 'none dropped');
    my %after;
    $bq->wait_for(sub {
        %after = ();
        for my $f (grep { /\.spool/ } @{ names($spool) }) {
            open my $fh, '<', "$spool/$f" or return 0;   # renamed: again
            while (my $l = <$fh>) {
                my ($t, $j) = split / /, $l, 2;
                $after{ $JSON->decode($j)->{visitor_id} }++ if $t eq 'events';
            }
        }
        return 1;
    }, 30);
    is_deeply(\%after, { map { ("after-1-$_" => 1) } 1 .. 100 },
              'the spool files hold the 100 new rows, once each');
    like($ng->error_log, qr/the spool holds \d+ bytes, not \d+: files went without the module/,
         'the recount is logged');
    $bq->clear_faults;
    my ($rc, $out, $err) = oie('spool', 'replay', $moved, @BQ);
    is($rc, 0, 'the moved files replay elsewhere') or diag($err);
    is(scalar(grep { $_->{json}{visitor_id} =~ /^full-/ }
              @{ $bq->rows('events') }), $spooled,
       "all $spooled rows nginx spooled before");
    $ng->quit;
};

# --- who holds a file -------------------------------------------------------

subtest 'claims: live ones and .part files left alone, dead claims taken' => sub {
    $bq->reset;
    my $d = spool_dir();
    my $dead = dead_pid();
    my $ready = spool_file($d, '', 4242, line(events => ev_row('cl-1')),
                           line(email_clicks => click_row('cl-c1')));
    my $live_claim = spool_file($d, ".claim-$$", 4242,
                                line(events => ev_row('cl-live')));
    my $dead_claim = spool_file($d, ".claim-$dead", 4242,
                                line(events => ev_row('cl-2')));
    my $live_part = spool_file($d, '.part', $$,
                               line(events => ev_row('cl-part')));
    my $dead_part = spool_file($d, '.part', $dead,
                               line(events => ev_row('cl-deadpart')));
    my %before = map { $_ => read_file("$d/$_") } @{ names($d) };

    my ($rc, $doc) = ls_json($d);
    is($rc, 0, 'ls exits 0');
    my %st = map { $_->{name} => $_ } @{ $doc->{files} };
    is($st{$ready}{state}, 'ready', 'ready');
    is_deeply([@{ $st{$live_claim} }{qw(state pid)}], ['claimed', $$],
              'claimed by a live pid');
    ok($st{$live_claim}{pid_alive}, '... alive');
    is_deeply([@{ $st{$dead_claim} }{qw(state pid)}], ['claimed', $dead],
              'claimed by a dead pid');
    ok(!$st{$dead_claim}{pid_alive}, '... gone');
    is($st{$live_part}{state}, 'writing', '.part of a live pid: writing');
    ok($st{$live_part}{pid_alive}, '... alive');
    ok(!$st{$dead_part}{pid_alive}, '.part of a dead pid: gone');
    is_deeply($doc->{totals}{rows}, { events => 5, email_clicks => 1 },
              'rows per table');

    my $out;
    ($rc, $out) = oie('spool', 'ls', $d);
    like($out, qr/\Q$live_claim\E\s+claimed \(pid $$\)\s/, 'text: claimed (pid N)');
    like($out, qr/\Q$dead_claim\E\s+claimed \(pid $dead, gone\)/, 'text: claimed, gone');
    like($out, qr/\Q$live_part\E\s+writing \(pid $$\)\s/, 'text: writing (pid N)');
    like($out, qr/\Q$dead_part\E\s+writing \(pid $dead, gone\)/, 'text: writing, gone');

    my $err;
    ($rc, $out, $err) = oie('spool', 'replay', $d, @BQ);
    is($rc, 0, 'replay exits 0') or diag($err);
    like($err, qr/\Q$live_claim\E: claimed by pid $$, which is running: skipped/,
         'the live claim is skipped, and said so');
    like($err, qr/\Q$live_part\E: being written by pid $$: skipped/,
         'the live .part is skipped');
    like($err, qr/\Q$dead_part\E: left by pid $dead, which is gone: skipped/,
         'the dead .part is skipped too (nginx finishes it)');
    like($err, qr/\Q$dead_claim\E: taken over from pid $dead/,
         'the dead claim is taken');
    is_deeply(stored('events'), { 'cl-1' => 1, 'cl-2' => 1 },
              'events of the ready file and the dead claim stored once');
    is_deeply(stored('email_clicks'), { 'cl-c1' => 1 }, 'the click too');
    is_deeply(names($d), [sort $live_claim, $live_part, $dead_part],
              'those two files deleted, the others left');
    is(read_file("$d/$_"), $before{$_}, "$_ unchanged")
        for ($live_claim, $live_part, $dead_part);
};

# --- upload journals -------------------------------------------------------

# journal_file($dir, $pid, @lines): "<UTC time>-<pid>-<seq>.journal"
sub journal_file {
    my ($dir, $pid, @lines) = @_;
    my $name = sprintf '20241124T10%04dZ-%d-%06d.journal', $n_file, $pid,
                       $n_file;
    $n_file++;
    write_file("$dir/$name", join '', @lines);
    return $name;
}

subtest 'journals: listed with their worker, live or gone, and their rows; replay leaves them' => sub {
    $bq->reset;
    my $d = spool_dir();
    my $dead = dead_pid();
    my $ready = spool_file($d, '', 4242, line(events => ev_row('jn-1')));
    # a live worker's journal may end in a line still being written
    my $live = journal_file($d, $$, line(events => ev_row('jn-live-1')),
                            line(email_clicks => click_row('jn-live-c')),
                            'events {"event_id":"jn-li');
    my @gone_rows = (ev_row('jn-gone-1'), ev_row('jn-gone-2'));
    my $gone = journal_file($d, $dead, map { line(events => $_) } @gone_rows);
    my %before = map { $_ => read_file("$d/$_") } $live, $gone;

    my ($rc, $doc, $err) = ls_json($d);
    is($rc, 0, 'ls exits 0') or diag($err);
    my %st = map { $_->{name} => $_ } @{ $doc->{files} };
    is_deeply([map { $_->{name} } @{ $doc->{files} }], [$ready, $live, $gone],
              'listed with the spool files, oldest first');
    is_deeply([@{ $st{$live} }{qw(state pid)}], ['journal', $$],
              'a journal of a live pid');
    ok($st{$live}{pid_alive}, '... alive');
    is_deeply($st{$live}{rows}, { events => 1, email_clicks => 1 },
              '... its whole rows (not the line being written)');
    is($st{$live}{malformed}, 0, '... nothing malformed');
    is($st{$live}{bytes}, length $before{$live}, '... its bytes');
    is_deeply([@{ $st{$gone} }{qw(state pid)}], ['journal', $dead],
              'a journal of a dead pid');
    ok(!$st{$gone}{pid_alive}, '... gone');
    is_deeply($st{$gone}{rows}, { events => 2, email_clicks => 0 }, '... its rows');
    my @times = sort map { $_->{event_time} } @gone_rows;
    is_deeply([@{ $st{$gone} }{qw(oldest_event_time newest_event_time)}], \@times,
              '... its oldest and newest event time');
    my $t = $doc->{totals};
    is_deeply([@$t{qw(files ready writing claimed journal)}], [3, 1, 0, 0, 2],
              'totals: 3 files, 2 of them journals');
    is_deeply($t->{rows}, { events => 4, email_clicks => 1 },
              'totals: the journals\' rows too');
    my $bytes = 0;
    $bytes += -s "$d/$_" for $ready, $live, $gone;
    is($t->{bytes}, $bytes, 'totals: their bytes too');

    my $out;
    ($rc, $out) = oie('spool', 'ls', $d);
    is($rc, 0, 'ls (table) exits 0');
    like($out, qr/^\Q$live\E\s+journal \(pid $$\)\s+1\s+1\s+0\s/m,
         'text: journal (pid N), its rows');
    like($out, qr/^\Q$gone\E\s+journal \(pid $dead, gone\)\s+2\s+0\s+0\s/m,
         'text: journal (pid N, gone)');
    like($out, qr/^total: 3 spool files \(1 ready, 0 being written, 0 claimed, 2 journals\), 5 rows \(events 4, email_clicks 1\)/m,
         'text: the totals');

    ($rc, $out, $err) = oie('spool', 'replay', $d, @BQ);
    is($rc, 0, 'replay exits 0') or diag($err);
    is_deeply(stored('events'), { 'jn-1' => 1 }, 'replay sent the spool file alone');
    is_deeply(names($d), [sort $live, $gone], 'the journals are left to nginx');
    is(read_file("$d/$_"), $before{$_}, "$_ unchanged") for $live, $gone;
};

subtest 'journals written by nginx while its uploads hang' => sub {
    $bq->reset;
    my $spool = tmpdir();
    my $ng = OIE::Nginx->new(workers => 1, http => <<"H");
        oie_zone oie 4m;
        oie_sink bigquery project=@{[ $bq->project ]} dataset=@{[ $bq->dataset ]}
                 credentials=@{[ $bq->key_file ]}
                 endpoint=@{[ $bq->url ]}/bigquery/v2 timeout=60s;
        oie_spool $spool max_size=64m;
        oie_batch rows=10 interval=20ms;
H
    $ng->start;
    $bq->fault(action => 'stall', count => 1_000_000);

    my $sent = 0;
    for my $i (1 .. 20) {
        my ($code) = $ng->request('POST', '/t',
            headers => { 'Content-Type' => 'application/json' },
            body => body(event(visitorId => "jn-ng-$i",
                               timestamp => 1732406400000 + $i * 1000)));
        $sent++ if $code == 204;
    }
    is($sent, 20, 'nginx took 20 events');

    my ($doc, @journals);
    ok($bq->wait_for(sub {
           my ($rc, $out) = oie('spool', 'ls', $spool, '--json');
           $doc = eval { $JSON->decode($out) } or return;
           @journals = grep { $_->{state} eq 'journal' } @{ $doc->{files} };
           my $n = 0;
           $n += $_->{rows}{events} for @journals;
           return $n == 20;
       }, 60), 'ls: the 20 rows are in journals while the uploads hang')
        or diag($JSON->encode($doc // {}));
    my %workers = map { $_ => 1 } $ng->worker_pids;
    ok(@journals >= 1, scalar(@journals) . ' journals');
    for my $j (@journals) {
        like($j->{name}, qr/^\d{8}T\d{6}Z-$j->{pid}-\d{6}\.journal$/,
             "$j->{name}: named after its worker");
        ok($workers{ $j->{pid} } && $j->{pid_alive},
           "... pid $j->{pid}, a live worker");
    }
    is($doc->{totals}{journal}, scalar @journals, 'totals: the journals');
    is($doc->{totals}{rows}{events}, 20, 'totals: their 20 rows');

    # BigQuery answers again: the rows are stored and the journals go
    $bq->reset;
    $bq->wait_rows('events', 20, 60);
    my @ng = grep { $_->{json}{visitor_id} =~ /^jn-ng-/ } @{ $bq->rows('events') };
    is(scalar @ng, 20, 'the 20 rows stored');
    ok($bq->wait_for(sub { !glob("$spool/*.journal") }, 30), 'the journals deleted');
    $ng->quit;
};

# --- malformed lines --------------------------------------------------------

subtest 'malformed lines: reported as FILE:LINE:COLUMN, to dead letter' => sub {
    $bq->reset;
    my $d = spool_dir();
    my $f = spool_file($d, '', 4242,
        line(events => ev_row('ml-1')),
        "bogus {\"a\":1}\n",
        "events {\"event_id\":\"ml-x\",\n",
        "events [1,2]\n",
        "no-space-at-all\n",
        "events {\"v\":\"\xff\xfe\"}\n",
        line(events => ev_row('ml-2')));

    my ($rc, $doc, $err) = ls_json($d);
    is($rc, 3, 'ls exits 3 when lines are malformed');
    is($doc->{totals}{malformed}, 5, '5 malformed lines counted');
    is($doc->{totals}{rows}{events}, 2, '2 good rows');
    like($err, qr/\Q$d\/$f\E:2:1: unknown table 'bogus'/, 'line 2: unknown table');
    like($err, qr/\Q$d\/$f\E:3:\d+: the row is not JSON/, 'line 3: truncated JSON');
    like($err, qr/\Q$d\/$f\E:4:8: the row is not a JSON object/, 'line 4: an array');
    like($err, qr/\Q$d\/$f\E:5:1: not "<table> <row JSON>"/, 'line 5: no table');
    like($err, qr/\Q$d\/$f\E:6:\d+: the row is not JSON: unable to decode byte 0xff/, 'line 6: bad UTF-8');

    my $out;
    ($rc, $out, $err) = oie('spool', 'replay', $d, @BQ);
    is($rc, 3, 'replay exits 3: some lines went to dead letter') or diag($err);
    like($err, qr/\Q$d\/$f\E:2:1: unknown table 'bogus'.*\(to dead letter\)/,
         'each reported with FILE:LINE:COLUMN');
    like($err, qr/2 accepted, 0 rejected \(dead letter\), 5 malformed/,
         'summary counts them');
    is_deeply(stored('events'), { 'ml-1' => 1, 'ml-2' => 1 },
              'the good rows around them were sent');
    is_deeply(names($d), [], 'the file is deleted');

    my $ev = dead_letters("$d/dead-letter/events.ndjson");
    my $other = dead_letters("$d/dead-letter/malformed.ndjson");
    is(scalar @$ev, 3, '3 lines of table events kept in events.ndjson');
    is(scalar @$other, 2, '2 lines of no table in malformed.ndjson');
    is($ev->[0]{table}, 'events', 'with their table');
    is($ev->[0]{row}, '{"event_id":"ml-x",', 'the row as text');
    is($ev->[0]{error}[0]{reason}, 'malformed', 'reason malformed');
    is($ev->[0]{error}[0]{location}, "$f:3:" . ($ev->[0]{error}[0]{location} =~ /:(\d+)$/)[0],
       'where it was');
    is($other->[0]{table}, undef, 'no table: null');
    is($other->[0]{row}, "bogus {\"a\":1}", 'the whole line');
    like($ev->[2]{row}, qr/^\{"v":"\?\?"\}$/, 'bytes that are not UTF-8 become ?');
};

# --- BigQuery failing -------------------------------------------------------

subtest '503 twice, then BigQuery recovers: retried, sent once' => sub {
    $bq->reset;
    my $d = spool_dir();
    spool_file($d, '', 4242, map { line(events => ev_row("rt-$_")) } 1 .. 5);
    $bq->fault(status => 503, count => 2);
    $bq->fault(kind => 'token', status => 500, count => 1);

    my ($rc, $out, $err) = oie('spool', 'replay', $d, @BQ);
    is($rc, 0, 'exit 0') or diag($err);
    like($err, qr/token endpoint .*HTTP 500.*again in/, 'the token failure was retried');
    like($err, qr/insertAll of 5 rows into events: HTTP 503 backendError; again in [\d.]+ s \(attempt 3 of 5\)/,
         'the 503 was retried, and said so');
    like($err, qr/5 accepted.*3 requests, 3 retries/, 'summary: 3 requests, 3 retries');
    my $n = stored('events');
    is_deeply($n, { map { ("rt-$_" => 1) } 1 .. 5 }, 'each row stored once');
    is_deeply(names($d), [], 'the file is deleted');
};

subtest 'BigQuery keeps failing: stop, exit 8, rows put back' => sub {
    $bq->reset;
    my $d = spool_dir();
    my $f1 = spool_file($d, '', 4242, map { line(events => ev_row("pb-$_")) } 1 .. 5);
    my $f2 = spool_file($d, '', 4242, line(events => ev_row('pb-later')));
    my $content = read_file("$d/$f1");
    $bq->fault(status => 503, count => 1000);

    my ($rc, $out, $err) = oie('spool', 'replay', $d, @BQ, '--attempts', 2);
    is($rc, 8, 'exit 8') or diag($err);
    like($err, qr/insertAll of 5 rows into events failed on every attempt: HTTP 503/,
         'says what failed');
    like($err, qr/5 not sent/, 'summary: 5 not sent');
    is_deeply(names($d), [$f1, $f2], 'both files still there under their names');
    is(read_file("$d/$f1"), $content, 'the first with every row');
    is(scalar @{ $bq->rows('events') }, 0, 'nothing stored');

    # first request through, then failures: only the rest goes back
    $bq->reset;
    $bq->fault(action => 'delay', delay_ms => 1, count => 1);
    $bq->fault(status => 503, count => 1000);
    ($rc, $out, $err) = oie('spool', 'replay', $d, @BQ, '--attempts', 2,
                            '--batch', 2);
    is($rc, 8, 'exit 8 again');
    like($err, qr/2 accepted.*3 not sent/, '2 accepted, 3 put back');
    is_deeply(stored('events'), { 'pb-1' => 1, 'pb-2' => 1 }, 'the first batch stored');
    is(read_file("$d/$f1"), join('', map { "$_\n" } (split /\n/, $content)[2 .. 4]),
       'the file holds the 3 rows not sent, as they were');
    is_deeply(names($d), [$f1, $f2], 'no claim left behind');

    $bq->clear_faults;
    ($rc, $out, $err) = oie('spool', 'replay', $d, @BQ, '--batch', 2);
    is($rc, 0, 'once BigQuery is back: exit 0') or diag($err);
    is_deeply(stored('events'), { map { ("pb-$_" => 1) } 1 .. 5, 'later' },
              'every row stored exactly once');
    is_deeply(names($d), [], 'files deleted');

    # a missing table is not retried
    $d = spool_dir();
    spool_file($d, '', 4242, line(events => ev_row('nt-1')));
    ($rc, $out, $err) = oie('spool', 'replay', $d, @BQ[0 .. 1], '--dataset',
                            'no_such_dataset', @BQ[4 .. $#BQ]);
    is($rc, 8, '404: exit 8 at once');
    like($err, qr/HTTP 404 notFound \(does the table exist/, 'with a hint');
    like($err, qr/0 retries/, 'not retried');
};

subtest 'interrupted (SIGINT) during a stalled request: rows put back, exit 130' => sub {
    $bq->reset;
    my $d = spool_dir();
    my $f = spool_file($d, '', 4242, map { line(events => ev_row("int-$_")) } 1 .. 3);
    my $content = read_file("$d/$f");
    $bq->fault(action => 'stall', count => 10);

    my $err_file = "$d/../stderr-$$";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDERR, '>', $err_file or _exit(99);
        open STDOUT, '>', '/dev/null';
        { exec(oie_bin(), "spool", "replay", $d, @BQ) }
        _exit(98);
    }
    my $claim = "$f.claim-$pid";
    ok($bq->wait_for(sub { -e "$d/$claim" && $bq->stats->{stalled} }, 30),
       'replay claimed the file and its request hangs');
    kill 'INT', $pid;
    waitpid $pid, 0;
    is($? >> 8, 130, 'exit 130');
    my $err = read_file($err_file);
    like($err, qr/3 not sent; .*; interrupted/, 'the summary says so');
    is_deeply(names($d), [$f], 'the file is back under its name');
    is(read_file("$d/$f"), $content, 'with every row');
    unlink $err_file;
    $bq->reset;
};

# --- dead letters -----------------------------------------------------------

subtest 'invalid rows to dead letter; --dead-letter replays them once fixed' => sub {
    $bq->reset;
    my $d = spool_dir();
    $bq->reject(field => 'visitor_id', equals => 'bad-visitor');
    my $bad = ev_row('dl-bad', visitor_id => 'bad-visitor');
    spool_file($d, '', 4242, line(events => ev_row('dl-1')),
               line(events => $bad), line(events => ev_row('dl-2')));

    my ($rc, $out, $err) = oie('spool', 'replay', $d, @BQ);
    is($rc, 3, 'exit 3: a row was refused') or diag($err);
    like($err, qr/2 accepted, 1 rejected \(dead letter\)/, 'summary');
    is_deeply(stored('events'), { 'dl-1' => 1, 'dl-2' => 1 },
              'the valid rows stored (after "stopped")');
    is_deeply(names($d), [], 'the spool file is deleted');
    my $dl = dead_letters("$d/dead-letter/events.ndjson");
    is(scalar @$dl, 1, 'one dead letter');
    is_deeply([sort keys %{ $dl->[0] }], [qw(error row table)],
              'the module\'s format: {"table","error","row"}');
    is($dl->[0]{table}, 'events', 'table');
    is($dl->[0]{error}[0]{reason}, 'invalid', "BigQuery's reason");
    is_deeply($dl->[0]{row}, $bad, 'the row, whole');

    # a line the user cannot replay as is, and one of another table
    open my $fh, '>>', "$d/dead-letter/events.ndjson" or die $!;
    print $fh $JSON->encode({ table => 'events', error => [], row => 'events {x' }), "\n";
    close $fh;
    write_file("$d/dead-letter/email_clicks.ndjson",
               $JSON->encode({ table => 'email_clicks', error => [{ reason => 'invalid' }],
                               row => click_row('dl-c1') }) . "\n");

    my ($ls_rc, $doc) = ls_json($d);
    my %dl = map { $_->{name} => $_ } @{ $doc->{dead_letters} };
    is($dl{'events.ndjson'}{rows}, 2, 'ls: 2 dead letters of events');
    is($dl{'email_clicks.ndjson'}{rows}, 1, 'ls: 1 of email_clicks');
    is($doc->{totals}{dead_letter_rows}, 3, 'ls: 3 in all');

    # still refused: it stays, with the new reason
    $bq->reset;
    $bq->reject(field => 'visitor_id', equals => 'bad-visitor',
                message => 'still wrong');
    ($rc, $out, $err) = oie('spool', 'replay', $d, @BQ, '--dead-letter');
    is($rc, 3, '--dead-letter while still refused: exit 3') or diag($err);
    like($err, qr/events\.ndjson:2:1: the row is a malformed spool line/,
         'the text row is reported with FILE:LINE:COLUMN');
    is_deeply(stored('email_clicks'), { 'dl-c1' => 1 }, 'the click went in');
    is(scalar @{ $bq->rows('events') }, 0, 'the refused row did not');
    $dl = dead_letters("$d/dead-letter/events.ndjson");
    is(scalar @$dl, 2, 'events.ndjson keeps both lines');
    is_deeply($dl->[0]{row}, $bad, 'the refused row');
    like($JSON->encode($dl->[0]{error}), qr/still wrong/, 'with the new reason');
    is($dl->[1]{row}, 'events {x', 'and the text row, as it was');
    ok(!-s "$d/dead-letter/email_clicks.ndjson", 'email_clicks.ndjson is empty');
    is_deeply([grep { /claim/ } @{ names("$d/dead-letter") }], [], 'no claim left');

    # fixed: it goes in and leaves the file
    $bq->clear_rejects;
    ($rc, $out, $err) = oie('spool', 'replay', $d, @BQ, '--dead-letter');
    is($rc, 3, 'exit 3: the text row is still there') or diag($err);
    is_deeply(stored('events'), { 'dl-bad' => 1 }, 'the fixed row stored');
    $dl = dead_letters("$d/dead-letter/events.ndjson");
    is(scalar @$dl, 1, 'only the text row is left');
    is($dl->[0]{row}, 'events {x', 'that one');
};

subtest 'ls: a dead letter of an unknown table is malformed, as replay says' => sub {
    $bq->reset;
    my $d = spool_dir();
    my $ev = "$d/dead-letter/events.ndjson";
    write_file($ev, join '',
        map { $JSON->encode($_) . "\n" }
            { table => 'events', error => [], row => ev_row('ut-1') },
            { table => 'sessions', error => [], row => ev_row('ut-2') },
            { error => [], row => ev_row('ut-3') },
            { table => 'events', error => [], row => ev_row('ut-4') });
    # replay keeps a line of no table with "table": null: still counted
    write_file("$d/dead-letter/malformed.ndjson",
               $JSON->encode({ table => undef, error => [{ reason => 'malformed' }],
                               row => 'bogus {"a":1}' }) . "\n");

    my ($rc, $doc, $err) = ls_json($d);
    is($rc, 3, 'ls exits 3: lines are malformed') or diag($err);
    like($err, qr/^oie: \Q$ev\E:2:1: unknown table 'sessions' \(events or email_clicks\)$/m,
         'line 2 (table "sessions") reported as FILE:LINE:COLUMN');
    like($err, qr/^oie: \Q$ev\E:3:1: not a dead letter: "table" is not/m,
         'line 3 (no "table") too');
    my %dl = map { $_->{name} => $_ } @{ $doc->{dead_letters} };
    is($dl{'events.ndjson'}{rows}, 2, 'events.ndjson: the 2 good rows');
    is($dl{'events.ndjson'}{malformed}, 2, 'events.ndjson: 2 malformed');
    is($dl{'malformed.ndjson'}{rows}, 1, 'malformed.ndjson: its line of no table');
    is($doc->{totals}{dead_letter_rows}, 3, 'totals: 3 dead letters');
    is($doc->{totals}{dead_letter_malformed}, 2, 'totals: 2 malformed');

    my $out;
    ($rc, $out) = oie('spool', 'ls', $d);
    is($rc, 3, 'ls (table) exits 3 too');
    like($out, qr{^dead-letter/events\.ndjson\s+dead letters\s+2\s+2\s}m,
         'text: 2 rows, 2 malformed');
    like($out, qr/2 malformed lines, \d+ bytes; dead letters: 3 rows in 2 files$/m,
         'text: the totals');

    # replay reads the same lines the same way
    ($rc, $out, $err) = oie('spool', 'replay', $d, @BQ, '--dead-letter', '--dry-run');
    is($rc, 3, 'replay --dead-letter --dry-run: exit 3') or diag($err);
    like($err, qr/\Q$ev\E:2:1: not a dead letter/, 'replay: line 2 malformed');
    like($err, qr/\Q$ev\E:3:1: not a dead letter/, 'replay: line 3 malformed');
    like($err, qr/would send 2 rows \(events 2, email_clicks 0\); 2 malformed lines/,
         'replay: the 2 good rows');
};

subtest '--dry-run reads and checks, and changes nothing' => sub {
    $bq->reset;
    my $d = spool_dir();
    my $dead = dead_pid();
    spool_file($d, '', 4242, line(events => ev_row('dry-1')), "junk\n");
    spool_file($d, ".claim-$dead", 4242, line(email_clicks => click_row('dry-c')));
    write_file("$d/dead-letter/events.ndjson",
               $JSON->encode({ table => 'events', error => [], row => ev_row('dry-2') }) . "\n");
    my %before = map { $_ => read_file("$d/$_") } @{ names($d) };
    my $dl_before = read_file("$d/dead-letter/events.ndjson");

    my ($rc, $out, $err) = oie('spool', 'replay', $d, @BQ, '--dry-run');
    is($rc, 3, 'exit 3: a line is malformed') or diag($err);
    like($err, qr/would send 2 rows \(events 1, email_clicks 1\); 1 malformed lines; nothing changed/,
         'says what it would send');
    ($rc, $out, $err) = oie('spool', 'replay', $d, @BQ, '--dry-run', '--dead-letter');
    is($rc, 0, '--dead-letter --dry-run: exit 0') or diag($err);
    like($err, qr/would send 1 rows \(events 1, email_clicks 0\)/, 'the dead letter');

    is_deeply({ map { $_ => read_file("$d/$_") } @{ names($d) } }, \%before,
              'the spool files are as they were, under the same names');
    is(read_file("$d/dead-letter/events.ndjson"), $dl_before, 'the dead letters too');
    is_deeply(names("$d/dead-letter"), ['events.ndjson'], 'nothing added');
    is($bq->stats->{requestsTotal}, 0, 'BigQuery was not called');
};

# --- arguments --------------------------------------------------------------

subtest 'help, bad arguments, missing key: clear errors, documented exit codes' => sub {
    my $d = spool_dir();
    for my $cmd (['spool', '--help'], ['spool', 'ls', '--help'],
                 ['spool', 'replay', '--help'])
    {
        my ($rc, $out) = oie(@$cmd);
        is($rc, 0, "oie @$cmd exits 0");
        like($out, qr/^usage: oie spool/, "oie @$cmd prints usage");
    }
    my ($rc, $out) = oie('spool', 'replay', '--help');
    like($out, qr/--dead-letter.*--dry-run.*Exit codes: 0 .*3 .*4 .*8 /s,
         'replay --help documents options and exit codes');
    ($rc, $out) = oie('--help');
    like($out, qr/spool replay.*\b8\s+spool replay: BigQuery/s,
         'oie --help lists the command and exit 8');

    my $key = $bq->key_file;
    my @cases = (
        [['spool'], 2, qr/usage: oie spool/],
        [['spool', 'rm'], 2, qr/unknown command 'spool rm'/],
        [['spool', 'ls'], 2, qr/spool ls needs one DIR/],
        [['spool', 'ls', $d, '--bogus'], 2, qr/unknown option '--bogus'/],
        [['spool', 'ls', "$d/missing"], 4, qr/cannot read the spool directory \Q$d\E\/missing: No such file/],
        [['spool', 'replay', $d], 2, qr/needs --project, --dataset and --credentials/],
        [['spool', 'replay', @BQ], 2, qr/spool replay needs one DIR/],
        [['spool', 'replay', $d, @BQ, '--batch', 0], 2, qr/--batch must be a number from 1 to 50000/],
        [['spool', 'replay', $d, @BQ, '--batch', 50001], 2, qr/--batch must be/],
        [['spool', 'replay', $d, @BQ, '--attempts', 'x'], 2, qr/--attempts must be/],
        [['spool', 'replay', $d, @BQ, '--endpoint', 'ftp://x'], 2,
         qr/--endpoint 'ftp:\/\/x': must start with https:\/\/ or http:\/\//],
        [['spool', 'replay', $d, @BQ, '--project', 'a b'], 2, qr/--project 'a b' is not a project id/],
        [['spool', 'replay', $d, @BQ, '--dataset', 'a-b'], 2, qr/--dataset 'a-b' is not a dataset id/],
        [['spool', 'replay', $d, @BQ, '--batch'], 2, qr/option --batch needs a value/],
        [['spool', 'replay', $d, @BQ, '--credentials', "$d/nokey.json"], 4,
         qr/cannot read the credentials \Q$d\E\/nokey\.json/],
        [['spool', 'replay', "$d/missing", @BQ], 4, qr/cannot read the spool directory/],
        [['spool', 'replay', "$d/missing", @BQ, '--dead-letter'], 4, qr/cannot read the spool directory/],
    );
    write_file("$d/user.json", '{"type":"authorized_user","client_id":"x"}');
    write_file("$d/broken.json", "{\n  \"type\": \"service_account\",\n  oops\n}\n");
    push @cases,
        [['spool', 'replay', $d, @BQ, '--credentials', "$d/user.json"], 3,
         qr/user\.json is not a service-account key/],
        [['spool', 'replay', $d, @BQ, '--credentials', "$d/broken.json"], 3,
         qr/broken\.json:3:\d+: the credentials are not JSON/];

    for my $c (@cases) {
        my ($args, $want, $re) = @$c;
        my ($rc, $out, $err) = oie(@$args);
        is($rc, $want, "oie @$args[0 .. ($#$args > 3 ? 3 : $#$args)] ...: exit $want");
        like($err, $re, '... and says why');
    }

    # the token endpoint refusing the key is not retried
    my $w = spool_dir();
    spool_file($w, '', 4242, line(events => ev_row('tk-1')));
    ($rc, $out, my $err) = oie('spool', 'replay', $w, @BQ, '--token-endpoint',
                               $bq->url . '/no-such-token-path');
    is($rc, 8, 'token endpoint answering 404: exit 8');
    like($err, qr/token endpoint .*no-such-token-path: HTTP 404/, 'says which');
    is(scalar @{ names($w) }, 1, 'the file is back');
    like(names($w)->[0], qr/\.spool$/, 'as .spool');
};

done_testing;
