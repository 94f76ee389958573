package Test::Nginx::Socket;

# Our own Test::Nginx::Socket-compatible test scaffold, built on Debian's
# Test::Base. Test files push t/lib at the END of @INC, so a real installed
# Test::Nginx wins when present and this one is used otherwise. See the POD
# at the end for what is supported and how it differs.

use strict;
use warnings;

use Test::Base -base;

use List::Util qw(shuffle);
use Text::Diff ();
use Time::HiRes qw(sleep);
use Digest::MD5 ();
use Digest::SHA ();

use Test::Nginx::Util;
use Test::Nginx::HTTPClient qw(build_request send_request parse_response
                               parse_request_line);

our $VERSION = '0.29_oie';

our @EXPORT = qw(
    run_tests run_test plan blocks repeat_each no_shuffle workers
    master_on master_off master_process_enabled log_level no_long_string
    no_root_location server_root html_dir server_port
    server_port_for_client server_addr server_name timeout
    worker_connections config_preamble add_block_preprocessor
    add_response_body_check add_cleanup_handler env_to_nginx bail_out
    is_str check_accum_error_log no_nginx_manager
    $ServerPort $ServerPortForClient $ServerRoot $ServRoot $RepeatEach
);

our @ResponseBodyChecks;
our $PrevBlock;
our $PrevConfig;
our $StartedOnce;
our $NginxUp;

sub add_response_body_check {
    my $code = shift;
    die "add_response_body_check: a code reference is needed\n"
        if ref $code ne 'CODE';
    push @ResponseBodyChecks, $code;
}

sub run_tests {
    if (!Test::More->builder->has_plan) {
        Test::More::plan('no_plan');
    }

    eval { Test::Nginx::Util::get_nginx_version() };
    if ($@) {
        bail_out("Test::Nginx: $@");
    }

    my @blocks = Test::Base::blocks();
    @blocks = shuffle @blocks if !$NoShuffle;

    for my $block (@blocks) {
        for my $pre (@BlockPreprocessors) {
            $pre->($block);
        }

        $block->set_value('name', "$0 " . $block->name);
        run_test($block);
        $PrevBlock = $block;
    }

    if (!$NoNginxManager && !$ENV{TEST_NGINX_NO_CLEAN}) {
        stop_nginx('run_tests');
        undef $NginxUp;
    }

    _check_prev_block_shutdown_error_log();
    undef $PrevBlock;
    cleanup();
}

# Test::Base's eval filter returns $@ as the value when the code dies;
# say so loudly instead of comparing against an error message.
sub _report_eval_failures {
    my ($block) = @_;

    my $map = $block->_section_map || {};
    for my $sec (sort keys %$map) {
        next if ($map->{$sec}{filters} || '') !~ /\beval\b/;
        my $v = $block->$sec;
        next if ref $v || !defined $v;
        if ($v =~ /\bat \(eval \d+\) line \d+/) {
            chomp $v;
            Test::More::diag($block->name . " - WARNING: the eval filter of "
                             . "--- $sec failed: $v");
        }
    }
}

sub _skip_spec {
    my ($block) = @_;

    my $name = $block->name;

    if (defined(my $spec = $block->skip_eval)) {
        if ($spec =~ /^\s*(\d+)\s*:\s*(.*)/s) {
            my ($n, $code) = ($1, $2);
            my $skip = eval "package main; $code";
            if ($@) {
                return (undef, undef, "skip_eval: \"$code\" failed: $@");
            }
            return ($n, "skip_eval") if $skip;

        } else {
            return (undef, undef,
                    "bad --- skip_eval \"$spec\", expected \"N: perl code\"");
        }
    }

    if (defined(my $spec = $block->skip_nginx)) {
        if ($spec =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)
                      (?:\s*:\s*(.*?))?\s*$/x)
        {
            my ($n, $op, $reason) = ($1, $2, $6);
            my $want = sprintf "%d.%03d%03d", $3, $4, $5;
            my $have = $Test::Nginx::Util::NginxVersion;
            my $skip = $op eq '<' ? $have < $want
                     : $op eq '<=' ? $have <= $want
                     : $op eq '>' ? $have > $want
                     : $have >= $want;
            return ($n, $reason || "nginx version $op $3.$4.$5") if $skip;

        } else {
            return (undef, undef, "bad --- skip_nginx \"$spec\", expected "
                                  . "\"N: OP x.y.z\"");
        }
    }

    return ();
}

sub run_test {
    my ($block) = @_;

    my $name = $block->name;
    my $rand_ports = {};
    my $block_error;

    _report_eval_failures($block);

    my ($skip_n, $skip_reason, $skip_error) = _skip_spec($block);
    $block_error = $skip_error if $skip_error;

    my $config = $block->config;
    my $must_die = $block->must_die;
    $config = '' if !defined $config && defined $must_die;

    my $restart = 0;
    if (!$NoNginxManager && !defined $skip_n) {
        if (defined $config) {
            my $expanded = eval {
                expand_env_in_text($config, $name, $rand_ports)
            };
            if ($@) {
                $block_error ||= _msg($@);
                $expanded = $config;
            }

            $restart = $ForceRestartOnTest || !defined $PrevConfig
                       || $expanded ne $PrevConfig || !$NginxUp
                       || defined $must_die;

        } elsif (!defined $PrevConfig) {
            $block_error ||= "no --- config section, and no previous "
                             . "block's config to reuse";
        }
    }

    # Without a restart we keep talking to the running nginx: only the
    # error log lines written from now on belong to this block.
    _errlog_from_here() if !$restart;

    if ($restart) {
        stop_nginx($name);
        undef $NginxUp;
        _check_prev_block_shutdown_error_log();
        _errlog_from_here();

        if (defined $must_die) {
            _run_must_die($block, $config, $rand_ports, $block_error);
            return;
        }

        if (!$block_error) {
            my $res = _start_for_block($block, $config, $rand_ports);
            if ($res->{error}) {
                $block_error = $res->{error};
                my $out = $res->{output};
                $out =~ s/^/    /mg;
                Test::More::diag("$name - $res->{error}\n  command: "
                                 . ($res->{cmd} || '?')
                                 . ($out =~ /\S/ ? "\n  output:\n$out" : '')
                                 . "\n  config: $ConfFile");

            } else {
                $NginxUp = 1;
                $StartedOnce = 1;
            }
        }
    }

    if (!$block_error && defined $block->init) {
        my $code = $block->init;
        eval "package main; no strict; $code; 1" or do {
            $block_error = "--- init failed: " . _msg($@);
        };
    }

    if ($block_error && !defined $skip_n) {
        Test::More::diag("$name - cannot run this block: $block_error");
    }

    for my $rep (0 .. $RepeatEach - 1) {
        if (defined $skip_n) {
          SKIP: {
                Test::More::skip("$name - $skip_reason", $skip_n);
            }
            next;
        }

        if ($rep > 0 && $restart && !$block_error) {
            eval { write_user_files($block, $rand_ports) };
            $block_error = "--- user_files: " . _msg($@) if $@;
        }

        run_test_helper($block, $rep, $block_error);
    }
}

sub _errlog_from_here {
    my $size = -s $ErrLogFile;
    $ErrLogFilePos = $Test::Nginx::Util::BlockErrLogStart
                   = defined $size ? $size : 0;
}

sub _msg {
    my ($e) = @_;
    $e = "$e";
    $e =~ s/\s+\z//;
    return $e;
}

# Write servroot and nginx.conf, start nginx; with an auto-picked port a
# clash with another process is retried on a new port.
sub _start_for_block {
    my ($block, $config, $rand_ports) = @_;

    my $name = $block->name;
    my $res;

    for my $try (1 .. 5) {
        my $expanded;
        eval {
            $expanded = expand_env_in_text($config, $name, $rand_ports);
            setup_server_root();
            write_user_files($block, $rand_ports);
            write_config_file($block, $expanded, $rand_ports);
            1;
        } or return { error => _msg($@), output => '' };

        $PrevConfig = $expanded;
        $ErrLogFilePos = $Test::Nginx::Util::BlockErrLogStart = 0;

        $res = start_nginx();
        return $res if !$res->{error};

        last if $try == 5
                || $res->{output} !~ /Address already in use/;

        if ($Test::Nginx::Util::PortIsAuto && !$StartedOnce) {
            my $port = Test::Nginx::Util::pick_free_port($ServerPort);
            $ServerPort = $ServerPortForClient = $port;
            $ENV{TEST_NGINX_SERVER_PORT} = $port;
            %$rand_ports = ();

        } else {
            sleep 0.3 * $try;
        }
    }

    return $res;
}

sub _run_must_die {
    my ($block, $config, $rand_ports, $block_error) = @_;

    my $name = $block->name;
    my $must_die = $block->must_die;

    if (!$block_error) {
        eval {
            my $expanded = expand_env_in_text($config, $name, $rand_ports);
            setup_server_root();
            write_user_files($block, $rand_ports);
            write_config_file($block, $expanded, $rand_ports);
            1;
        } or $block_error = _msg($@);
    }

    $ErrLogFilePos = $Test::Nginx::Util::BlockErrLogStart = 0;

    for my $rep (0 .. $RepeatEach - 1) {
        my $where = _where($rep, 0, 0);

        if ($block_error) {
            Test::More::fail("$name - die as expected$where");
            Test::More::diag("    cannot run nginx: $block_error");
            _check_error_log($block, undef, $rep, 0, [], $block_error);
            next;
        }

        my $res = start_nginx();
        my $desc = "$name - die as expected$where";

        if ($res->{status} == -1) {
            Test::More::fail("$name - failed to execute the nginx command "
                             . "line$where");
            Test::More::diag("    $res->{error}");

        } elsif ($res->{signal}) {
            Test::More::fail("$name - nginx crashed (signal $res->{signal})"
                             . $where);

        } elsif ($must_die =~ /^\s*(\d+)\s*$/) {
            my $want = $1;
            Test::More::ok($res->{exit} == $want,
                           "$name - die with the expected exit code$where")
                or Test::More::diag("    nginx exit code: $res->{exit}, "
                                    . "expected $want");

        } else {
            Test::More::ok($res->{status} != 0, $desc)
                or Test::More::diag("    nginx started although the block "
                                    . "says --- must_die");
        }

        my @startup = split /^/, $res->{output};
        _check_error_log($block, undef, $rep, 0, \@startup);

        if ($res->{status} == 0) {
            stop_nginx($name);
        }
    }
}

sub _where {
    my ($rep, $idx, $need_array) = @_;

    my @w;
    push @w, "repeat $rep" if $RepeatEach > 1;
    push @w, "req $idx" if $need_array;
    return @w ? " (" . join(', ', @w) . ")" : '';
}

# Turn the request sections into a list of "sends": one connection each,
# carrying one request (or several, pipelined).
sub _build_sends {
    my ($block) = @_;

    my $more = $block->more_headers;
    $more = '' if !defined $more;

    if (defined(my $raw = $block->raw_request)) {
        my @pk = ref $raw eq 'ARRAY'
                 ? map { ref $_ eq 'HASH' ? $_ : { value => $_ } } @$raw
                 : ({ value => $raw });
        my $all = join '', map { defined $_->{value} ? $_->{value} : '' }
                  @pk;
        (my $line = $all) =~ s/[\r\n].*//s;
        return ({ packets => \@pk, n => 1, lines => [$line],
                  head => $all =~ /^\s*HEAD\s/ ? 1 : 0 });
    }

    if (defined(my $reqs = $block->pipelined_requests)) {
        if (ref $reqs ne 'ARRAY' || !@$reqs) {
            return ({ n => 1, lines => ['(pipelined_requests)'],
                      error => "--- pipelined_requests must be a non-empty "
                               . "array (use eval)" });
        }

        my ($wire, @lines, $head) = ('');
        for my $i (0 .. $#$reqs) {
            my $hdr = ref $more eq 'ARRAY' ? $more->[$i] : $more;
            my ($pk, $err) = build_request(
                packets => [ $reqs->[$i] ],
                more_headers => $hdr,
                host => $ServerName,
                connection => $i == $#$reqs ? 'close' : 'keep-alive');
            if ($err) {
                return ({ n => scalar @$reqs, lines => [('?') x @$reqs],
                          error => "pipelined request $i: $err" });
            }
            $wire .= $pk->[0]{value};
            my $p = parse_request_line($reqs->[$i]);
            push @lines, "$p->{method} $p->{url} $p->{version}";
            $head = 1 if $p->{method} eq 'HEAD';
        }

        return ({ packets => [{ value => $wire }], n => scalar @$reqs,
                  lines => \@lines, head => $head });
    }

    my $req = $block->request;
    if (!defined $req) {
        return ({ n => 1, lines => ['(none)'],
                  error => "no --- request section" });
    }

    my @list;
    if (!ref $req) {
        1 while $req =~ s/^\s*#[^\n]*\n|^\s+//s;
        @list = ($req);

    } elsif (ref $req eq 'ARRAY') {
        @list = @$req;
        if (!@list) {
            return ({ n => 1, lines => ['(none)'],
                      error => "--- request is an empty array" });
        }

    } else {
        return ({ n => 1, lines => ['(bad)'],
                  error => "--- request must be a string or an array "
                           . "reference, not " . ref($req) });
    }

    my @sends;
    for my $i (0 .. $#list) {
        my $one = $list[$i];
        my %s = (n => 1, lines => ['?']);

        my $hdr = $more;
        if (ref $more eq 'ARRAY') {
            $hdr = $more->[$i];
            if (!defined $hdr) {
                $s{error} = "--- more_headers has no entry for request $i";
                push @sends, \%s;
                next;
            }
        }

        my $packets;
        if (!ref $one) {
            $packets = [$one];

        } elsif (ref $one eq 'ARRAY') {
            $packets = [@$one];

        } else {
            $s{error} = "request $i must be a string or an array of "
                        . "packets, not " . ref($one);
            push @sends, \%s;
            next;
        }

        my ($pk, $err) = build_request(packets => $packets,
                                       more_headers => $hdr,
                                       host => $ServerName,
                                       connection => 'close');
        if ($err) {
            $s{error} = @list > 1 ? "request $i: $err" : $err;
            push @sends, \%s;
            next;
        }

        my $all = join '', map { ref $_ ? $_->{value} : $_ } @$packets;
        my $p = parse_request_line($all);
        $s{lines} = ["$p->{method} $p->{url} $p->{version}"];
        $s{head} = $p->{method} eq 'HEAD' ? 1 : 0;
        $s{packets} = $pk;
        push @sends, \%s;
    }

    return @sends;
}

sub run_test_helper {
    my ($block, $rep, $block_error) = @_;

    my $name = $block->name;
    my $timeout = parse_time(scalar($block->timeout));
    $timeout = $Timeout if !$timeout;

    my @sends = _build_sends($block);
    my $total = 0;
    $total += $_->{n} for @sends;
    my $need_array = $total > 1 || defined $block->pipelined_requests;

    my $middle = parse_time(scalar($block->raw_request_middle_delay));
    my $idx = 0;
    my $res;

    for my $s (@sends) {
        my $info;
        my $err = $block_error || $s->{error};

        if ($err) {
            $info = { raw => '', error => $err };

        } else {
            $info = send_request(addr => $ServerAddr,
                                 port => $ServerPortForClient,
                                 packets => $s->{packets},
                                 timeout => $timeout,
                                 middle_delay => $middle,
                                 shutdown => _shutdown_how($block),
                                 responses => $s->{n},
                                 head => $s->{head},
                                 retry_refused => 1,
                                 server_alive => $NoNginxManager ? undef
                                                 : \&nginx_is_running);

            if (($info->{connect_error} || $info->{raw} eq '')
                && !$NoNginxManager && !nginx_is_running())
            {
                my @tail = grep { !/\[debug\]/ }
                           split /^/, error_log_tail(200);
                @tail = @tail[-5 .. -1] if @tail > 5;
                $info->{error} = join "\n", grep { defined } $info->{error},
                    "nginx is not running any more (it crashed or exited);"
                    . " the last lines of error.log:\n" . join '', @tail;
            }
        }

        my $rest = $info->{raw};

        for my $k (0 .. $s->{n} - 1) {
            undef $res;
            if (defined $rest && length $rest) {
                $res = parse_response($rest, $s->{head});
                $rest = $res->{left};
            }

            my $ctx = {
                block => $block, name => $name, rep => $rep, idx => $idx,
                need_array => $need_array, res => $res, info => $info,
                line => $s->{lines}[$k], timeout => $timeout,
                timed_out => $info->{timed_out}
                             && (!$res || !$res->{complete}
                                 || $k == $s->{n} - 1),
            };

            if (!defined $block->ignore_response) {
                _check_error_code($ctx);
                _check_raw_response_headers($ctx);
                _check_response_headers($ctx);
                _transform_response_body($ctx);
                _check_response_body($ctx);
            }

            if ($idx < $total - 1) {
                _wait($block);
                _check_error_log($block, $res, $rep, $need_array, [],
                                 $block_error);
                _check_access_log($block, $rep)
                    if !defined $block->ignore_response;
            }

            $idx++;
        }
    }

    _wait($block);
    _check_error_log($block, $res, $rep, $need_array, [], $block_error);
    _check_access_log($block, $rep) if !defined $block->ignore_response;
}

sub _wait {
    my ($block) = @_;
    my $w = parse_time(scalar($block->wait));
    sleep $w if $w;
}

sub _shutdown_how {
    my ($block) = @_;
    my $s = $block->shutdown;
    return undef if !defined $s;
    return $s =~ /^\s*(\d)\s*$/ ? $1 : 1;
}

# A failed check says which block, which request, and what came back.
sub _report {
    my ($ctx, @lines) = @_;

    my @out = @lines;
    if (!$ctx->{context_shown}) {
        $ctx->{context_shown} = 1;
        my $res = $ctx->{res};
        my $info = $ctx->{info};

        push @out, "request: " . ($ctx->{line} || '?')
                   . _where($ctx->{rep}, $ctx->{idx}, $ctx->{need_array});

        if ($info->{error}) {
            push @out, "error: $info->{error}";
        }

        if ($ctx->{timed_out}) {
            push @out, "client socket timed out after $ctx->{timeout}s";
        }

        if ($res) {
            push @out, "response: "
                       . ($res->status_line || '(no status line)');
            push @out, "response problem: $_" for @{ $res->{errors} };

        } elsif (!$info->{error}) {
            push @out, "response: (nothing received)";
        }
    }

    Test::More::diag(join "\n", map { "    $_" } map { split /\n/ } @out);
}

sub _ok {
    my ($ctx, $ok, $desc, @diag) = @_;
    Test::More::ok($ok, $desc) or _report($ctx, @diag);
    return $ok;
}

# Value of a per-request section: arrays are indexed by request number.
sub _indexed {
    my ($ctx, $section) = @_;

    my $v = $ctx->{block}->$section;
    if ($ctx->{need_array}) {
        if (ref $v ne 'ARRAY') {
            return (undef, "--- $section must be an array (--- $section "
                    . "eval [...]) since this block sends several "
                    . "requests");
        }
        return ($v->[$ctx->{idx}]);
    }

    return (ref $v eq 'ARRAY' ? $v->[0] : $v);
}

sub _subst_port {
    my ($s) = @_;
    return $s if !defined $s || ref $s;
    $s =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
    $s =~ s/\$ServerPort\b/$ServerPort/g;
    return $s;
}

sub _check_error_code {
    my ($ctx) = @_;

    my $block = $ctx->{block};
    my $res = $ctx->{res};
    my $code = $res && defined $res->code ? $res->code : '';
    my $desc = "$ctx->{name} - status code ok"
               . _where($ctx->{rep}, $ctx->{idx}, $ctx->{need_array});

    if ($ctx->{timed_out} && !defined $block->abort) {
        _ok($ctx, 0, $desc, "got status \"$code\", but the response did "
                            . "not complete in time");
        return;
    }

    if (defined $block->error_code_like) {
        my ($pat, $err) = _indexed($ctx, 'error_code_like');
        return _ok($ctx, 0, $desc, $err) if $err;
        $pat = '' if !defined $pat;
        my $ok = eval { $code =~ /$pat/sm };
        return _ok($ctx, 0, $desc, "bad error_code_like regex: $@") if $@;
        _ok($ctx, $ok, $desc, "status \"$code\" does not match /$pat/");
        return;
    }

    my $want = 200;
    if (defined $block->error_code) {
        my $err;
        ($want, $err) = _indexed($ctx, 'error_code');
        return _ok($ctx, 0, $desc, $err) if $err;
    }

    $want = '(undef)' if !defined $want;
    my @hint;
    if ($want =~ /^\s*\Q$code\E\s*$/ && $code ne '' && $want ne $code) {
        push @hint, "(the expected value has extra whitespace; use "
                    . "\"--- error_code: N\" or the chomp filter)";
    }
    _ok($ctx, $code eq $want, $desc,
        "got status \"$code\", expected \"$want\"", @hint);
}

sub _check_raw_response_headers {
    my ($ctx) = @_;

    my $block = $ctx->{block};
    my $raw = $ctx->{res} ? $ctx->{res}->raw_headers : '';
    my $where = _where($ctx->{rep}, $ctx->{idx}, $ctx->{need_array});

    for my $kind (qw(like unlike)) {
        my $sec = "raw_response_headers_$kind";
        next if !defined $block->$sec;
        my $desc = "$ctx->{name} - raw resp headers $kind$where";
        my ($pat, $err) = _indexed($ctx, $sec);
        if ($err) {
            _ok($ctx, 0, $desc, $err);
            next;
        }
        $pat = _subst_port($pat);
        my $m = eval { $raw =~ /$pat/s };
        if ($@) {
            _ok($ctx, 0, $desc, "bad regex /$pat/: $@");
            next;
        }
        _ok($ctx, $kind eq 'like' ? $m : !$m, $desc,
            "raw headers:\n$raw", "pattern: /$pat/");
    }
}

# "Name: value" lines, "!Name" for a header that must be absent. Like the
# real Test::Nginx, a name given twice is checked once.
sub _parse_header_spec {
    my ($spec) = @_;

    my (%seen, @list);
    for my $line (split /\n/, defined $spec ? $spec : '') {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';

        my ($key, $val);
        if ($line =~ s/^!\s*//) {
            $key = $line;

        } else {
            ($key, $val) = split /\s*:\s*/, $line, 2;
            $val = '' if !defined $val;
        }

        if (!exists $seen{$key}) {
            push @list, $key;
        }
        $seen{$key} = $val;
    }

    return map { [$_, $seen{$_}] } @list;
}

sub _check_response_headers {
    my ($ctx) = @_;

    my $block = $ctx->{block};
    my $res = $ctx->{res};
    my $where = _where($ctx->{rep}, $ctx->{idx}, $ctx->{need_array});

    if (defined $block->response_headers) {
        my ($spec, $err) = _indexed($ctx, 'response_headers');
        if ($err) {
            _ok($ctx, 0, "$ctx->{name} - response_headers$where", $err);
            return;
        }

        for my $h (_parse_header_spec($spec)) {
            my ($key, $val) = @$h;

            if (!defined $val) {
                my $raw = $res ? $res->raw_headers : '';
                my ($line) = $raw =~ /^(\s*\Q$key\E\s*:[^\r\n]*)/mi;
                _ok($ctx, !defined $line,
                    "$ctx->{name} - header $key not present in the raw "
                    . "headers$where",
                    "but the response has: " . (defined $line ? $line : ''));
                next;
            }

            $val = _subst_port($val);
            my $got = $res ? $res->header($key) : undef;
            $got = '' if !defined $got;
            _ok($ctx, $got eq $val, "$ctx->{name} - header $key ok$where",
                "header $key: got \"$got\", expected \"$val\"");
        }
        return;
    }

    if (defined $block->response_headers_like) {
        my ($spec, $err) = _indexed($ctx, 'response_headers_like');
        if ($err) {
            _ok($ctx, 0, "$ctx->{name} - response_headers_like$where", $err);
            return;
        }

        for my $h (_parse_header_spec($spec)) {
            my ($key, $pat) = @$h;
            $pat = '' if !defined $pat;
            $pat = _subst_port($pat);
            my $got = $res ? $res->header($key) : undef;
            $got = '' if !defined $got;
            my $m = eval { $got =~ /^$pat$/ };
            my $desc = "$ctx->{name} - header $key like ok$where";
            if ($@) {
                _ok($ctx, 0, $desc, "bad regex /^$pat\$/: $@");
                next;
            }
            _ok($ctx, $m, $desc,
                "header $key: got \"$got\", expected to match /^$pat\$/");
        }
    }
}

sub _transform_response_body {
    my ($ctx) = @_;

    my $block = $ctx->{block};
    my $res = $ctx->{res};
    my $filters = $block->response_body_filters;
    return if !defined $filters || !$res;

    if (!ref $filters) {
        $filters =~ s/^\s+|\s+$//g;
        $filters = [split /\s+/, $filters];

    } elsif (ref $filters ne 'ARRAY') {
        $filters = [$filters];
    }

    if (@$filters && ref $filters->[0] eq 'ARRAY') {
        $filters = $filters->[$ctx->{idx}] || [];
    }

    my %builtin = (
        md5_hex => \&Digest::MD5::md5_hex,
        sha1_hex => \&Digest::SHA::sha1_hex,
        uc => sub { uc $_[0] }, lc => sub { lc $_[0] },
        ucfirst => sub { ucfirst $_[0] }, lcfirst => sub { lcfirst $_[0] },
        length => sub { length $_[0] },
    );

    my $body = $res->{content};
    for my $f (@$filters) {
        my $code = ref $f eq 'CODE' ? $f : $builtin{$f};
        if (!$code) {
            Test::More::diag("$ctx->{name} - unknown response_body_filters "
                             . "entry \"$f\" ignored");
            next;
        }
        $body = $code->($body);
    }
    $res->{content} = $body;
}

sub _visible {
    my ($s) = @_;
    return '(undef)' if !defined $s;
    $s =~ s/\\/\\\\/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\t/\\t/g;
    $s =~ s/\n/\\n/g;
    $s =~ s/([^\x20-\x7e])/sprintf('\\x{%02x}', ord $1)/ge;
    return "\"$s\"";
}

sub _body_diff {
    my ($got, $want) = @_;

    return ("got no response body") if !defined $got;

    my @d = ("got " . length($got) . " bytes, expected "
             . length($want) . " bytes");

    if ($got !~ /\n./s && $want !~ /\n./s && length($got) < 200
        && length($want) < 200)
    {
        push @d, "     got: " . _visible($got), "expected: " . _visible($want);
        return @d;
    }

    my $diff = Text::Diff::diff(\$want, \$got, {
        STYLE => 'Unified', FILENAME_A => 'expected', FILENAME_B => 'got',
    });
    if (length $diff > 4000) {
        $diff = substr($diff, 0, 4000) . "\n... (diff truncated)";
    }
    push @d, $diff;

    if (($got =~ /\n\z/) != ($want =~ /\n\z/)) {
        push @d, "note: only one of them ends with a newline (the chomp "
                 . "filter removes the expected one)";
    }
    return @d;
}

sub _check_response_body {
    my ($ctx) = @_;

    my $block = $ctx->{block};
    my $res = $ctx->{res};
    my $content = $res ? $res->content : undef;
    my $where = " (repeated req $ctx->{rep}, req $ctx->{idx})";

    if (defined $block->response_body || defined $block->response_body_eval) {
        my ($want, $err);
        if (defined $block->response_body_eval) {
            my $code;
            ($code, $err) = _indexed($ctx, 'response_body_eval');
            if (!$err) {
                $want = eval "package main; no strict; $code";
                $err = "--- response_body_eval failed: $@" if $@;
            }

        } else {
            ($want, $err) = _indexed($ctx, 'response_body');
        }

        my $desc = "$ctx->{name} - response_body - response is expected"
                   . $where;
        if ($err) {
            _ok($ctx, 0, $desc, $err);

        } elsif (ref $want eq 'Regexp') {
            _ok($ctx, defined $content && $content =~ $want,
                "$ctx->{name} - response_body - like$where",
                "body " . _visible($content) . " does not match $want");

        } else {
            $want = '' if !defined $want;
            $want = _subst_port($want);
            _ok($ctx, defined $content && $content eq $want, $desc,
                _body_diff($content, $want));
        }

    } elsif (defined $block->response_body_like
             || defined $block->response_body_unlike)
    {
        my $type = defined $block->response_body_like ? 'like' : 'unlike';
        my ($pat, $err) = _indexed($ctx, "response_body_$type");
        my $summary = trim($content);
        $summary = '' if !defined $summary;
        $summary = substr($summary, 0, 60) . '...' if length $summary > 63;
        my $desc = "$ctx->{name} - response_body_$type - response is "
                   . "expected ($summary)";

        if ($err) {
            _ok($ctx, 0, $desc, $err);

        } else {
            $pat = '' if !defined $pat;
            $pat = _subst_port($pat);
            my $m = eval { defined $content && $content =~ /$pat/s };
            if ($@) {
                _ok($ctx, 0, $desc, "bad regex /$pat/: $@");

            } else {
                my $ok = $type eq 'like' ? $m
                                         : defined $content && !$m;
                _ok($ctx, $ok, $desc,
                    "body: " . _visible(defined $content
                                        ? substr($content, 0, 2000)
                                        : undef),
                    ($type eq 'like' ? "should match" : "should not match")
                    . " /$pat/s");
            }
        }
    }

    for my $check (@ResponseBodyChecks) {
        $check->($block, $content, $ctx->{idx}, $ctx->{rep}, 0);
    }
}

sub _patterns {
    my ($v) = @_;

    return () if !defined $v;
    if (!ref $v) {
        chomp $v;
        return grep { length } split /\n+/, $v;
    }
    return ($v) if ref $v eq 'Regexp';
    return grep { defined } @$v if ref $v eq 'ARRAY';
    return ("$v");
}

sub _line_matches {
    my ($line, $pat) = @_;
    return ref $pat eq 'Regexp' ? $line =~ $pat : index($line, $pat) >= 0;
}

sub _value_contains {
    my ($v, $s) = @_;
    for my $p (_patterns($v)) {
        return 1 if index("$p", $s) >= 0;
    }
    return 0;
}

# The tail of some log lines for a failure message; [debug] lines are
# left out when there is anything else to show.
sub _show_lines {
    my ($lines, $max) = @_;

    my @l = @$lines;
    my $note = '';
    # continuation lines (a debug dump of response headers) belong to
    # the entry above them
    my ($debug, @nodebug) = (0);
    for my $line (@l) {
        if ($line =~ m{^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(\w+)\]}) {
            $debug = $1 eq 'debug';
        }
        push @nodebug, $line if !$debug;
    }
    if (@nodebug && @nodebug < @l) {
        $note = "(" . (@l - @nodebug) . " [debug] lines not shown)\n";
        @l = @nodebug;
    }

    if (@l > $max) {
        $note .= "(" . (@l - $max) . " earlier lines not shown)\n";
        @l = @l[-$max .. -1];
    }

    return $note . join('', map {
        my $x = $_;
        $x =~ s/\s+\z//;
        $x = substr($x, 0, 300) . '...' if length $x > 303;
        "| $x\n";
    } @l);
}

# error_log / no_error_log / grep_error_log against the log lines written
# since the previous check of this block (plus nginx's startup output for
# must_die blocks).
sub _check_error_log {
    my ($block, $res, $rep, $need_array, $extra, $block_error) = @_;

    my $name = $block->name;
    my $lines = [ @{ $extra || [] }, @{ error_log_data() } ];
    my $where = " (req $rep)";
    my $pats;

    my $why = $block_error ? "\n    (the block could not run: $block_error)"
                           : '';

    if (defined(my $grep = $block->grep_error_log)) {
        $grep = $grep->[$rep] if ref $grep eq 'ARRAY';
        my $want = $block->grep_error_log_out;
        $want = $want->[$rep] if ref $want eq 'ARRAY';
        $want = '' if !defined $want;

        my $matched = '';
        for my $line (@$lines) {
            if (ref $grep eq 'Regexp' ? $line =~ $grep
                                      : $line =~ /\Q$grep\E/)
            {
                my $m = $&;
                $matched .= "$m\n" if $m !~ /\n/;
            }
        }

        my $desc = "$name - grep_error_log_out$where";
        if (ref $want eq 'Regexp') {
            Test::More::like($matched, $want, $desc);

        } else {
            Test::More::ok($matched eq $want, $desc)
                or Test::More::diag(join "\n", map { "    $_" }
                                    _body_diff($matched, $want));
        }
    }

    if (defined $block->error_log) {
        for my $pat (_patterns(scalar($block->error_log))) {
            my $found = grep { _line_matches($_, $pat) } @$lines;
            Test::More::ok($found, $found
                ? "$name - pattern \"$pat\" matches a line in "
                  . "error.log$where"
                : "$name - pattern \"$pat\" should match a line in "
                  . "error.log$where")
                or Test::More::diag("    searched " . scalar(@$lines)
                    . " line(s) of $ErrLogFile written during this "
                    . "request$why\n"
                    . _show_lines($lines, 15));
        }
    }

    if (defined $block->no_error_log) {
        for my $pat (_patterns(scalar($block->no_error_log))) {
            my @hits = grep { _line_matches($_, $pat) } @$lines;
            my $p = _visible("$pat");
            (my $first = @hits ? $hits[0] : '') =~ s/\s+\z//;
            Test::More::ok(!@hits, @hits
                ? "$name - pattern $p should not match any line in "
                  . "error.log but matches line " . _visible($first)
                  . "$where"
                : "$name - pattern $p does not match a line in "
                  . "error.log$where")
                or Test::More::diag("    " . scalar(@hits)
                                    . " matching line(s):\n"
                                    . _show_lines(\@hits, 5));
        }
    }

    # like the real scaffold: shout about serious messages nobody asked
    # for (an [emerg] is what a must_die block is about)
    my $all = [ scalar($block->error_log), scalar($block->no_error_log) ];
    for my $level (qw(alert crit emerg)) {
        next if _value_contains($all, "[$level");
        next if $level eq 'emerg' && defined $block->must_die;
        for my $line (@$lines) {
            next if $line !~ /\[$level\]/;
            (my $l = $line) =~ s/\s+\z//;
            Test::More::diag("WARNING: $name - $l");
        }
    }

    for my $line (@$lines) {
        if ($line =~ /\bAssertion .*?failed\b/) {
            (my $l = $line) =~ s/\s+\z//;
            Test::More::fail("$name - $l");
        }
    }
}

sub _check_access_log {
    my ($block, $rep) = @_;

    my $name = $block->name;
    return if !defined $block->access_log && !defined $block->no_access_log;

    my $lines = access_log_data();

    for my $pat (_patterns(scalar($block->access_log))) {
        my $found = grep { _line_matches($_, $pat) } @$lines;
        Test::More::ok($found, "$name - pattern \"$pat\" "
                       . ($found ? "matches" : "should match")
                       . " a line in access.log (req $rep)")
            or Test::More::diag(_show_lines($lines, 10));
    }

    for my $pat (_patterns(scalar($block->no_access_log))) {
        my @hits = grep { _line_matches($_, $pat) } @$lines;
        Test::More::ok(!@hits, "$name - pattern \"$pat\" "
                       . (@hits ? "should not match any line"
                                : "does not match a line")
                       . " in access.log (req $rep)")
            or Test::More::diag(_show_lines(\@hits, 5));
    }
}

# After nginx of the previous block has been stopped gracefully: what it
# logged while shutting down.
sub _check_prev_block_shutdown_error_log {
    my $block = $PrevBlock;
    return if !$block || !defined $block->shutdown_error_log;

    my $name = $block->name;
    my @pats = _patterns(scalar($block->shutdown_error_log));
    my @nopats = _patterns(scalar($block->no_shutdown_error_log));

    if ($ENV{TEST_NGINX_NO_CLEAN}) {
      SKIP: {
            Test::More::skip("$name - shutdown_error_log: nginx left "
                             . "running (TEST_NGINX_NO_CLEAN)",
                             @pats + @nopats);
        }
        return;
    }

    my $lines = error_log_data();

    for my $pat (@nopats) {
        my @hits = grep { _line_matches($_, $pat) } @$lines;
        Test::More::ok(!@hits, "$name - pattern \"$pat\" "
                       . (@hits ? "should not match any line in error.log "
                                  . "but matches line " . _visible($hits[0])
                                : "does not match a line in error.log"));
    }

    for my $pat (@pats) {
        my $found = grep { _line_matches($_, $pat) } @$lines;
        Test::More::ok($found, "$name - pattern \"$pat\" "
                       . ($found ? "matches" : "should match")
                       . " a line in error.log")
            or Test::More::diag("    searched " . scalar(@$lines)
                                . " line(s) written after the last request"
                                . " (shutdown)\n" . _show_lines($lines, 15));
    }
}

# Interrupted runs (Ctrl-C, a harness timeout) must not leave nginx
# behind either: turn the signals into a normal exit so END runs.
for my $sig (qw(INT TERM HUP)) {
    if (!defined $SIG{$sig} || $SIG{$sig} eq 'DEFAULT' || $SIG{$sig} eq '') {
        $SIG{$sig} = sub {
            # once: a second signal (timeout(1) also signals the whole
            # process group) must not cut the cleanup short
            $SIG{$_} = 'IGNORE' for qw(INT TERM HUP);
            Test::More::diag("caught SIG$sig, stopping nginx");
            exit 128 + ($sig eq 'INT' ? 2 : $sig eq 'TERM' ? 15 : 1);
        };
    }
}

END {
    # an early exit (die, bail out) must not leave nginx behind
    if (!$ENV{TEST_NGINX_NO_CLEAN} && !$NoNginxManager) {
        local $?;
        Test::Nginx::Util::stop_nginx('END', quiet => 1);
    }

    if ($Test::Nginx::Util::ServRootIsTemp && !$ENV{TEST_NGINX_NO_CLEAN}) {
        my $tb = Test::More->builder;
        if ($tb->is_passing) {
            close $Test::Nginx::Util::ServRootLock
                if $Test::Nginx::Util::ServRootLock;
            File::Path::remove_tree($ServRoot) if $ServRoot =~ /servroot_\d+$/;
        }
    }
}

1;
__END__

=head1 NAME

Test::Nginx::Socket - our own Test::Nginx::Socket-compatible scaffold

=head1 SYNOPSIS

    use FindBin;
    BEGIN { push @INC, "$FindBin::Bin/lib", "$FindBin::Bin/../lib" }
    use Test::Nginx::Socket 'no_plan';

    repeat_each(2);
    no_shuffle();
    run_tests();

    __DATA__

    === TEST 1: hello
    --- config
        location = /t { return 200 "hello\n"; }
    --- request
    GET /t
    --- response_body
    hello
    --- no_error_log
    [error]

=head1 DESCRIPTION

A re-implementation, on Debian's L<Test::Base>, of the block format of the
CPAN Test::Nginx::Socket (which Debian does not package). Test files push
C<t/lib> at the end of C<@INC>, so an installed Test::Nginx is preferred.
Per-check test counts are the same as the real one, so plans written as
C<repeat_each() * N * blocks()> hold under both.

Each block gets a freshly written server root and nginx is restarted
(stopped with SIGQUIT and waited for, then started) between blocks.
After the last block nginx is stopped gracefully so C<shutdown_error_log>
can be checked. nginx runs with C<-p SERVROOT/ -c conf/nginx.conf>,
daemon on and master process off unless C<master_on()>.

A failed check names the block (C<$0 TEST n: title>) and, when a block
sends several requests or repeats, the request; its diagnostics show the
request line, the response status line, what was expected (a unified diff
for multi-line bodies) and, for log checks, the log lines searched. When
nginx is gone in the middle of a block the failure says so and shows the
end of error.log. C<error_log> checks see only the lines written since the
previous check of the block (after each request, as the real scaffold
does), never another block's.

An nginx left behind by an interrupted earlier run in the same server root
is stopped first; SIGINT, SIGTERM and SIGHUP stop nginx before exiting.

=head2 Loading it

    use FindBin;
    BEGIN { push @INC, "$FindBin::Bin/lib", "$FindBin::Bin/../lib" }
    use Test::Nginx::Socket 'no_plan';   # or plan tests => ...

C<push> (not C<use lib>) lets an installed Test::Nginx win. The runner's
own tests in F<t/runner> use C<use lib> on purpose: they test this one.

=head2 Sections

config, http_config, main_config, post_main_config, server_name,
request (string; eval: string, array of requests, a request may be an array
of packets, C<{ value => ..., delay_before => secs }>), raw_request,
pipelined_requests, more_headers (eval arrays per request), error_code,
error_code_like, response_headers (C<Name: value>, C<!Name>),
response_headers_like, raw_response_headers_like/unlike, response_body
(chomp, eval, qr//, arrays), response_body_like/unlike,
response_body_filters, error_log, no_error_log, grep_error_log(_out),
access_log, no_access_log, shutdown_error_log, no_shutdown_error_log,
must_die, wait, timeout (C<s>/C<ms>), abort, shutdown, ignore_response,
init, user_files, log_level, skip_eval, skip_nginx, and Test::Base's
ONLY, SKIP, LAST.

=head2 Environment

TEST_NGINX_BINARY (default C<nginx> from PATH, else /usr/sbin/nginx),
TEST_NGINX_LOAD_MODULES (space separated; C<load_module> lines first in
nginx.conf; relative paths are taken from the current directory when they
exist there), TEST_NGINX_PORT / TEST_NGINX_SERVER_PORT (default: a free
port in 20000-31999), TEST_NGINX_CLIENT_PORT, TEST_NGINX_SERVROOT (default
t/servroot; t/servroot_PORT when t/servroot is held by another running test
or with TEST_NGINX_RANDOMIZE), TEST_NGINX_TIMEOUT (3), TEST_NGINX_NO_SHUFFLE,
TEST_NGINX_LOG_LEVEL, TEST_NGINX_MASTER_PROCESS, TEST_NGINX_NO_CLEAN,
TEST_NGINX_CHECK_ACCUM_ERR_LOG, TEST_NGINX_FORCE_RESTART_ON_TEST,
TEST_NGINX_EVENT_TYPE, TEST_NGINX_WORKER_USER, TEST_NGINX_STOP_TIMEOUT (10).

Memory checkers (L<Test::Nginx::Sanitize>): TEST_NGINX_USE_VALGRIND runs
nginx under valgrind's memcheck with F<t/valgrind.supp>;
TEST_NGINX_PREFIX_CMD puts a command before every nginx run;
TEST_NGINX_REPORT_DIR is where ASan, UBSan and valgrind reports are looked
for: one written while the file runs fails it, with the report shown.

Exported: run_tests, plan, blocks, repeat_each, no_shuffle, workers,
master_on, master_off, master_process_enabled, log_level, no_long_string,
no_root_location, server_root, html_dir, server_port,
server_port_for_client, server_addr, server_name, timeout,
worker_connections, config_preamble, add_block_preprocessor,
add_response_body_check, add_cleanup_handler, env_to_nginx, bail_out,
is_str, check_accum_error_log, no_nginx_manager, C<$ServerPort>,
C<$ServerPortForClient>, C<$ServerRoot>, C<$ServRoot>, C<$RepeatEach>, and
Test::More's functions through Test::Base. The real one exports none of
these variables; portable files use C<server_root()>, C<html_dir()>,
C<server_port()> or C<$Test::Nginx::Util::ServerPort>.

C<$TEST_NGINX_*> variables are expanded in config, http_config,
main_config, post_main_config and user_files; TEST_NGINX_SERVER_PORT,
TEST_NGINX_HTML_DIR and TEST_NGINX_SERVER_ROOT are always set, and
C<$TEST_NGINX_RAND_PORT_N> expands to free ports.

=head2 Differences from the real Test::Nginx::Socket

Bad block input (a missing request, an undefined C<$TEST_NGINX_> variable,
a failed init, nginx failing to start) fails that block's checks with the
reason instead of bailing out of the whole run. A client timeout fails the
block's status code check instead of adding an extra failing test. The
generated nginx.conf listens on 127.0.0.1 only, sets the temp paths, lock
file and error log under the server root (Debian's nginx has system paths
compiled in), and nginx >= 1.19.5 is started with C<-e> so startup
messages land in error.log. For C<must_die> blocks the error_log checks
also see nginx's startup output. A block without C<--- config> reuses the
running nginx and its error_log checks only see lines written during it.
HTTP/2, HTTP/3, curl, stap, HUP reload, the check-leak and
benchmark modes, and the embedded TCP/UDP servers are not implemented.

=cut
