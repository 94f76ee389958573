package OIE::BQStub;

# Starts and drives the BigQuery stand-in (t/bqstub/server.mjs) from Perl
# tests:
#
#   my $bq = OIE::BQStub->start;              # fresh key, free port, ready
#   ... point nginx at $bq->url, $bq->key_file (its token_uri is the stand-in)
#   $bq->fault(status => 503, count => 2);    # next 2 insertAll calls fail
#   my $rows = $bq->wait_rows('events', 3);   # what was stored, in order
#   is($bq->stats->{duplicatesSkipped}, 0);
#   $bq->stop;                                # also done on DESTROY and END
#
# Core Perl only (HTTP::Tiny, JSON::PP). Traffic goes to 127.0.0.1 only.

use strict;
use warnings;

use Carp qw(croak);
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use JSON::PP ();
use POSIX qw(WNOHANG);
use Scalar::Util qw(weaken);
use Time::HiRes qw(sleep time);

my $T_DIR = dirname(dirname(dirname(abs_path(File::Spec->rel2abs(__FILE__)))));

our $SERVER   = "$T_DIR/bqstub/server.mjs";
our $MAKE_KEY = "$T_DIR/bqstub/make-sa-key";
our $NODE     = $ENV{OIE_NODE} || 'node';

my $JSON = JSON::PP->new->utf8->canonical;

# Control-API keys that must travel as JSON numbers or booleans, whatever
# Perl made of them.
my %NUMERIC = map { $_ => 1 } qw(count status delay_ms retry_after
                                 token_lifetime);
my %BOOLEAN = map { $_ => 1 } qw(record_headers tokens);

my %LIVE;

sub root_dir {
    return $ENV{OIE_ROOT} || dirname($T_DIR);
}

# start(schemas => DIR or [DIRS], dir => DIR, project => P,
#       dataset => D or [DS], timeout => S, log => FILE, args => [...])
sub start {
    my ($class, %o) = @_;

    my $dir = $o{dir}
        // tempdir('oie-bqstub-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    -d $dir or mkdir $dir or croak "OIE::BQStub: cannot make $dir: $!";

    my @schemas = ref $o{schemas} eq 'ARRAY' ? @{ $o{schemas} }
                : defined $o{schemas} ? ($o{schemas})
                : (root_dir() . '/sql/schemas');
    my @datasets = ref $o{dataset} eq 'ARRAY' ? @{ $o{dataset} }
                 : ($o{dataset} // 'outbound_sales');
    my $project = $o{project} // 'oie-test';
    my $timeout = $o{timeout} // 15;
    my $log = $o{log} // "$dir/bqstub.log";
    my $key = "$dir/sa.json";
    my $port_file = "$dir/bqstub.port";

    unlink $port_file;
    system($NODE, $MAKE_KEY, $key, '--project', $project) == 0
        or croak "OIE::BQStub: make-sa-key failed (exit " . ($? >> 8) . ")";

    my @cmd = ($NODE, $SERVER,
               '--port', $o{port} // 0, '--port-file', $port_file,
               '--key', $key, '--project', $project, '--set-token-uri',
               '--parent-pid', $$,
               (map { ('--schemas', $_) } @schemas),
               (map { ('--dataset', $_) } @datasets),
               @{ $o{args} // [] });

    my $pid = fork;
    croak "OIE::BQStub: fork: $!" unless defined $pid;
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log;
        open STDERR, '>>&', \*STDOUT;
        { exec { $cmd[0] } @cmd }
        print STDERR "OIE::BQStub: exec $cmd[0]: $!\n";
        POSIX::_exit(127);
    }

    my $self = bless {
        pid => $pid, owner => $$, dir => $dir, key_file => $key,
        project => $project, datasets => \@datasets, log_file => $log,
        http => HTTP::Tiny->new(timeout => 30, agent => 'OIE-BQStub/1'),
    }, $class;

    my $deadline = time + $timeout;
    until (-s $port_file) {
        if (waitpid($pid, WNOHANG) == $pid) {
            my $code = $? >> 8;
            delete $self->{pid};
            croak "OIE::BQStub: the stand-in exited ($code) before it was"
                . " ready:\n" . $self->log_tail;
        }
        if (time > $deadline) {
            $self->stop;
            croak "OIE::BQStub: the stand-in was not ready after ${timeout}s:\n"
                . $self->log_tail;
        }
        sleep 0.02;
    }

    open my $fh, '<', $port_file or croak "OIE::BQStub: $port_file: $!";
    my $port = <$fh>;
    close $fh;
    chomp $port;
    $self->{port} = $port;
    $self->{key} = $JSON->decode(_slurp($key));

    $LIVE{"$self"} = $self;
    weaken $LIVE{"$self"};

    my $health = $self->_call(GET => 'health');
    $self->{tables} = $health->{tables};
    return $self;
}

sub port      { $_[0]{port} }
sub pid       { $_[0]{pid} }
sub dir       { $_[0]{dir} }
sub key_file  { $_[0]{key_file} }
sub key       { $_[0]{key} }
sub project   { $_[0]{project} }
sub dataset   { $_[0]{datasets}[0] }
sub datasets  { @{ $_[0]{datasets} } }
sub tables    { @{ $_[0]{tables} } }
sub log_file  { $_[0]{log_file} }
sub url       { "http://127.0.0.1:$_[0]{port}" }
sub token_url { $_[0]->url . '/token' }

sub metadata_token_url {
    return $_[0]->url
        . '/computeMetadata/v1/instance/service-accounts/default/token';
}

sub insert_url {
    my ($self, $table, $dataset) = @_;
    return $self->url . "/bigquery/v2/projects/$self->{project}/datasets/"
        . ($dataset // $self->dataset) . "/tables/$table/insertAll";
}

# Sets TEST_NGINX_BQ_* so Test::Nginx blocks can write, for example,
#   oie_sink bigquery project=$TEST_NGINX_BQ_PROJECT
#            dataset=$TEST_NGINX_BQ_DATASET credentials=$TEST_NGINX_BQ_KEY
#            endpoint=$TEST_NGINX_BQ_URL;
# Returns the variables set.
sub export_env {
    my $self = shift;
    my %env = (
        TEST_NGINX_BQ_PORT      => $self->port,
        TEST_NGINX_BQ_URL       => $self->url,
        TEST_NGINX_BQ_TOKEN_URL => $self->token_url,
        TEST_NGINX_BQ_KEY       => $self->key_file,
        TEST_NGINX_BQ_PROJECT   => $self->project,
        TEST_NGINX_BQ_DATASET   => $self->dataset,
    );
    @ENV{ keys %env } = values %env;
    return \%env;
}

sub log_tail {
    my ($self, $lines) = @_;
    my @all = split /\n/, (eval { _slurp($self->{log_file}) } // '');
    $lines //= 20;
    splice @all, 0, @all - $lines if @all > $lines;
    return join '', map { "  $_\n" } @all;
}

sub _slurp {
    my $path = shift;
    open my $fh, '<', $path or die "$path: $!\n";
    local $/;
    my $text = <$fh>;
    close $fh;
    return $text;
}

sub _typed {
    my %in = @_;
    my %out;
    for my $k (keys %in) {
        my $v = $in{$k};
        if ($NUMERIC{$k} && defined $v && !ref $v) {
            $v = 0 + $v;
        } elsif ($BOOLEAN{$k} && !ref $v) {
            $v = $v ? JSON::PP::true : JSON::PP::false;
        }
        $out{$k} = $v;
    }
    return \%out;
}

# One control-API call; croaks with the stand-in's message on an error.
sub _call {
    my ($self, $method, $path, $body) = @_;
    croak 'OIE::BQStub: the stand-in is not running' unless $self->{port};

    my %opt;
    if (defined $body) {
        $opt{content} = $JSON->encode($body);
        $opt{headers} = { 'Content-Type' => 'application/json' };
    }
    my $res = $self->{http}->request($method, $self->url . "/_stub/$path",
                                     \%opt);
    my $doc = eval { $JSON->decode($res->{content}) };
    if (!$res->{success}) {
        my $msg = ref $doc eq 'HASH' && ref $doc->{error} eq 'HASH'
                ? $doc->{error}{message} : $res->{content};
        croak "OIE::BQStub: $method /_stub/$path: $res->{status} $msg";
    }
    croak "OIE::BQStub: $method /_stub/$path: answer is not JSON" unless $doc;
    return $doc;
}

# fault(kind => 'insertAll' (default) | 'token' | 'metadata',
#       action => 'error' (default) | 'stall' | 'delay' | 'drop' | 'truncate',
#       status => 503, reason => 'backendError', message => '...',
#       count => 1, delay_ms => D, phase => 'headers'|'body'|'after',
#       body => 'json'|'html'|'empty', retry_after => S)
sub fault {
    my ($self, %spec) = @_;
    $spec{kind} //= 'insertAll';
    return $self->_call(POST => 'fault', _typed(%spec))->{queued};
}

sub faults       { $_[0]->_call(GET => 'faults')->{pending} }
sub clear_faults { $_[0]->_call(DELETE => 'faults'); return }

# reject(insert_ids => [...]) or reject(field => F, equals => V);
# optional table => T, message => M, count => N.
sub reject {
    my ($self, %rule) = @_;
    $self->_call(POST => 'reject', _typed(%rule));
    return;
}

sub clear_rejects { $_[0]->_call(DELETE => 'rejects'); return }

sub expire_tokens { $_[0]->_call(POST => 'expire-tokens', {})->{expired} }

# config(token_lifetime => S, record_headers => BOOL); returns the config.
sub config {
    my ($self, %c) = @_;
    return %c ? $self->_call(POST => 'config', _typed(%c))
              : $self->_call(GET => 'config');
}

sub token_lifetime { $_[0]->config(token_lifetime => $_[1]) }
sub record_headers { $_[0]->config(record_headers => $_[1] // 1) }

# Stored rows, in arrival order: [{seq, insertId, table, dataset, json}].
sub rows {
    my ($self, $table) = @_;
    my $q = defined $table ? "?table=$table" : '';
    return $self->_call(GET => "rows$q")->{rows};
}

sub stats    { $_[0]->_call(GET => 'stats') }
sub requests { $_[0]->_call(GET => 'requests')->{requests} }

# reset(tokens => 1) also forgets the tokens it issued.
sub reset {
    my ($self, %o) = @_;
    $self->_call(POST => 'reset', _typed(%o));
    return;
}

# Polls until $code returns true or $timeout seconds pass; returns the last
# value. Uploads are asynchronous, so tests wait for them this way.
sub wait_for {
    my ($self, $code, $timeout) = @_;
    my $deadline = time + ($timeout // 10);
    my $v;
    while (1) {
        $v = $code->();
        return $v if $v || time > $deadline;
        sleep 0.05;
    }
}

# Waits until at least $n rows are stored in $table; returns the rows.
sub wait_rows {
    my ($self, $table, $n, $timeout) = @_;
    my $rows;
    $self->wait_for(sub { $rows = $self->rows($table); @$rows >= $n },
                    $timeout);
    return $rows;
}

# An access token from the metadata endpoint, for tests that call the API
# themselves.
sub access_token {
    my $self = shift;
    my $res = $self->{http}->get($self->metadata_token_url,
                                 { headers => { 'Metadata-Flavor' => 'Google' } });
    croak "OIE::BQStub: metadata token: $res->{status} $res->{content}"
        unless $res->{success};
    return $JSON->decode($res->{content})->{access_token};
}

sub running {
    my $self = shift;
    return 0 unless $self->{pid};
    return waitpid($self->{pid}, WNOHANG) == 0;
}

sub stop {
    my $self = shift;
    my $pid = delete $self->{pid};

    delete $LIVE{"$self"};
    return unless $pid && $self->{owner} == $$;
    kill 'TERM', $pid;
    my $deadline = time + 5;
    while (waitpid($pid, WNOHANG) == 0) {
        if (time > $deadline) {
            kill 'KILL', $pid;
            waitpid $pid, 0;
            last;
        }
        sleep 0.02;
    }
    delete $self->{port};
    return;
}

sub DESTROY {
    my $self = shift;
    local ($?, $@, $!);
    $self->stop if $self->{pid};
}

END {
    local $?;
    for my $bq (grep { defined } values %LIVE) {
        $bq->stop;
    }
}

1;
