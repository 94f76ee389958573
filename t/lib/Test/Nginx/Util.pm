package Test::Nginx::Util;

# Settings, nginx.conf generation and nginx process management for our
# Test::Nginx::Socket-compatible runner. Variable and function names follow
# the real Test::Nginx::Util so test files that peek at them keep working.

use strict;
use warnings;

use Config ();
use Cwd qw(cwd);
use Fcntl qw(:flock);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use File::Spec ();
use IO::Socket::INET ();
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);

use Test::Nginx::Sanitize ();

use Exporter 'import';

our @EXPORT = qw(
    $ServerPort $ServerPortForClient $ServerAddr $ServerName
    $ServRoot $ServerRoot $HtmlDir $LogDir $ErrLogFile $AccLogFile
    $ConfDir $ConfFile $PidFile $RepeatEach $NoLongString $NoShuffle
    $NginxBinary $NginxVersion $ErrLogFilePos @BlockPreprocessors
    $NoNginxManager $ForceRestartOnTest $Timeout
    bail_out add_cleanup_handler cleanup add_block_preprocessor
    repeat_each no_shuffle workers master_on master_off
    master_process_enabled log_level no_long_string no_root_location
    server_root html_dir server_port server_port_for_client server_addr
    server_name timeout worker_connections config_preamble env_to_nginx
    check_accum_error_log no_nginx_manager is_str parse_time
    expand_env_in_text setup_server_root write_config_file
    write_user_files start_nginx stop_nginx nginx_is_running
    error_log_data error_log_tail access_log_data trim
);

our $RepeatEach = 1;
our $NoShuffle = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $NoLongString;
our $Workers = 1;
our $WorkerConnections = 64;
our $LogLevel = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcessEnabled = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $DaemonEnabled = 'on';
our $NoRootLocation = 0;
our $Timeout = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $TestNginxSleep = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $CheckAccumErrLog = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our $NoNginxManager = $ENV{TEST_NGINX_NO_NGINX_MANAGER} || 0;
our $ForceRestartOnTest = defined $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST}
                          ? $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST} : 1;
our $LoadModules = $ENV{TEST_NGINX_LOAD_MODULES};
our $ConfigPreamble = '';
our $ServerAddr = '127.0.0.1';
our $ServerName = 'localhost';
our @EnvToNginx;
our @BlockPreprocessors;
our @CleanupHandlers;
our $ErrLogFilePos = 0;
our $NginxVersion;
our $NginxConfigureArgs = '';

# how long a graceful stop may take before we kill nginx
our $StopTimeout = $ENV{TEST_NGINX_STOP_TIMEOUT} || 10;

our $NginxBinary = $ENV{TEST_NGINX_BINARY} || _default_binary();

sub _default_binary {
    for my $dir (split /$Config::Config{path_sep}/, $ENV{PATH} || '') {
        next if $dir eq '';
        return 'nginx' if -x "$dir/nginx" && !-d "$dir/nginx";
    }

    for my $p ('/usr/sbin/nginx', '/usr/local/sbin/nginx',
               '/usr/local/nginx/sbin/nginx')
    {
        return $p if -x $p;
    }

    return 'nginx';
}

# The port: TEST_NGINX_SERVER_PORT / TEST_NGINX_PORT, else a free one, so
# two prove jobs never fight over a fixed 1984.
our $PortIsAuto = 0;
our $ServerPort = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT};
if (!$ServerPort) {
    $ServerPort = pick_free_port();
    $PortIsAuto = 1;
}
our $ServerPortForClient = $ENV{TEST_NGINX_CLIENT_PORT}
                           || ($PortIsAuto ? $ServerPort
                               : $ENV{TEST_NGINX_PORT} || $ServerPort);

sub pick_free_port {
    my (%used) = map { $_ => 1 } grep { defined } @_;

    for (1 .. 500) {
        # below the Linux ephemeral range, so we do not collide with
        # outgoing connections
        my $port = 20000 + int(rand(12000));
        next if $used{$port};

        my $sock = IO::Socket::INET->new(
            LocalAddr => '127.0.0.1',
            LocalPort => $port,
            Proto     => 'tcp',
            Listen    => 1,
        );

        if ($sock) {
            close $sock;
            return $port;
        }
    }

    die "Test::Nginx: cannot find a free TCP port on 127.0.0.1\n";
}

# The server root: TEST_NGINX_SERVROOT, else t/servroot (t/servroot_PORT
# with TEST_NGINX_RANDOMIZE or when another test process holds
# t/servroot). A lock file inside it marks it as ours while we run.
our ($ServRoot, $ServRootIsTemp, $ServRootLock);

sub _choose_servroot {
    my $explicit = $ENV{TEST_NGINX_SERVROOT};
    my $base;

    if (-d File::Spec->catdir(cwd(), 't')) {
        $base = File::Spec->catdir(cwd(), 't');

    } else {
        $base = dirname(File::Spec->rel2abs($0));
    }

    if ($explicit) {
        $ServRoot = File::Spec->rel2abs($explicit);
        _lock_servroot(1) or die "Test::Nginx: the server root $ServRoot "
            . "(TEST_NGINX_SERVROOT) is in use by another test process\n";
        return;
    }

    if (!$ENV{TEST_NGINX_RANDOMIZE}) {
        $ServRoot = File::Spec->catdir($base, 'servroot');
        return if _lock_servroot(0);
    }

    $ServRoot = File::Spec->catdir($base, "servroot_$ServerPort");
    $ServRootIsTemp = 1;
    _lock_servroot(1) or die "Test::Nginx: cannot lock $ServRoot\n";
}

sub _lock_servroot {
    my ($must) = @_;

    make_path($ServRoot) if !-d $ServRoot;
    open my $fh, '>>', "$ServRoot/.lock"
        or die "Test::Nginx: cannot create $ServRoot/.lock: $!\n";

    if (!flock($fh, LOCK_EX | LOCK_NB)) {
        close $fh;
        return 0;
    }

    $ServRootLock = $fh;
    return 1;
}

_choose_servroot();

our $ServerRoot = $ServRoot;
our $LogDir     = File::Spec->catdir($ServRoot, 'logs');
our $ErrLogFile = File::Spec->catfile($LogDir, 'error.log');
our $AccLogFile = File::Spec->catfile($LogDir, 'access.log');
our $HtmlDir    = File::Spec->catdir($ServRoot, 'html');
our $ConfDir    = File::Spec->catdir($ServRoot, 'conf');
our $ConfFile   = File::Spec->catfile($ConfDir, 'nginx.conf');
our $PidFile    = File::Spec->catfile($LogDir, 'nginx.pid');
our $StartupOutFile = File::Spec->catfile($ServRoot, 'startup.out');

$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;
$ENV{TEST_NGINX_HTML_DIR} ||= $HtmlDir;
$ENV{TEST_NGINX_SERVER_PORT} ||= $ServerPort;

# settings functions, as exported by the real Test::Nginx

sub repeat_each {
    $RepeatEach = shift if @_;
    return $RepeatEach;
}

sub no_shuffle { $NoShuffle = 1 }

sub no_long_string { $NoLongString = 1 }

sub no_root_location { $NoRootLocation = 1 }

sub no_nginx_manager { $NoNginxManager = 1 }

sub check_accum_error_log { $CheckAccumErrLog = 1 }

sub master_on { $MasterProcessEnabled = 'on' }

sub master_off { $MasterProcessEnabled = 'off' }

sub master_process_enabled {
    if (@_) {
        $MasterProcessEnabled = shift() ? 'on' : 'off';
    }
    return $MasterProcessEnabled;
}

sub workers {
    $Workers = shift if @_;
    return $Workers;
}

sub worker_connections {
    $WorkerConnections = shift if @_;
    return $WorkerConnections;
}

sub log_level {
    $LogLevel = shift if @_;
    return $LogLevel;
}

sub timeout {
    $Timeout = shift if @_;
    return $Timeout;
}

sub config_preamble { $ConfigPreamble = shift }

sub server_root { $ServRoot }

sub html_dir { $HtmlDir }

sub server_port {
    $ServerPort = shift if @_;
    return $ServerPort;
}

sub server_port_for_client {
    $ServerPortForClient = shift if @_;
    return $ServerPortForClient;
}

sub server_addr {
    $ServerAddr = shift if @_;
    return $ServerAddr;
}

sub server_name {
    $ServerName = shift if @_;
    return $ServerName;
}

sub env_to_nginx {
    die "env_to_nginx: no arguments\n" if !@_;

    for my $v (@_) {
        if (!defined $v || $v !~ /^[A-Za-z_]/ || $v =~ /\n/) {
            die "env_to_nginx: bad argument \"" . (defined $v ? $v : '')
                . "\"\n";
        }
        push @EnvToNginx, $v;
    }
}

sub add_block_preprocessor {
    my $code = shift;
    die "add_block_preprocessor: a code reference is needed\n"
        if ref $code ne 'CODE';
    unshift @BlockPreprocessors, $code;
}

sub add_cleanup_handler {
    my $code = shift;
    die "add_cleanup_handler: a code reference is needed\n"
        if ref $code ne 'CODE';
    unshift @CleanupHandlers, $code;
}

sub is_str {
    my ($got, $expected, $desc) = @_;

    if (ref $expected && ref $expected eq 'Regexp') {
        return Test::More::like($got, $expected, $desc);
    }

    return Test::More::is($got, $expected, $desc);
}

sub parse_time {
    my $tm = shift;
    return undef if !defined $tm;

    $tm =~ s/^\s+|\s+$//g;
    if ($tm =~ /^([\d.]+)ms$/) {
        return $1 / 1000;
    }
    if ($tm =~ /^([\d.]+)s?$/) {
        return $1;
    }
    return undef;
}

sub trim {
    my $s = shift;
    return undef if !defined $s;
    $s =~ s/^\s+|\s+$//g;
    $s =~ s/\n/ /g;
    $s =~ s/\s{2,}/ /g;
    return $s;
}

our $Cleaned;

sub cleanup {
    for my $h (@CleanupHandlers) {
        eval { $h->() };
        warn "cleanup handler failed: $@" if $@;
    }
    @CleanupHandlers = ();
}

sub bail_out {
    cleanup();
    stop_nginx('bail out', quiet => 1) if !$ENV{TEST_NGINX_NO_CLEAN};
    Test::More::BAIL_OUT(join '', @_);
}

# Replace $TEST_NGINX_* by their environment values (and
# $TEST_NGINX_RAND_PORT_N by free ports). Dies with a clear message on an
# undefined variable; the caller turns that into a block failure.
sub expand_env_in_text {
    my ($text, $name, $rand_ports) = @_;

    return undef if !defined $text;
    $rand_ports ||= {};

    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        my $val;

        if ($var =~ /^TEST_NGINX_RAND_PORT_\d+$/) {
            $rand_ports->{$var} ||= pick_free_port($ServerPort,
                                                  values %$rand_ports);
            $val = $rand_ports->{$var};

        } else {
            if (!defined $ENV{$var}) {
                die "environment variable $var is not defined "
                    . "(used as \$$var)\n";
            }
            $val = $ENV{$var};
        }

        $val;
    }ge;

    return $text;
}

sub get_nginx_version {
    return $NginxVersion if defined $NginxVersion;

    my $out = `$NginxBinary -V 2>&1`;
    if (!defined $out || $? != 0) {
        die "cannot run \"$NginxBinary -V\" (set TEST_NGINX_BINARY): "
            . ($out || $!) . "\n";
    }

    if ($out =~ m{configure arguments:(.*)}) {
        $NginxConfigureArgs = $1;
    }

    if ($out =~ m{/(\d+)\.(\d+)\.(\d+)}) {
        $NginxVersion = sprintf "%d.%03d%03d", $1, $2, $3;
        return $NginxVersion;
    }

    die "cannot parse the output of \"$NginxBinary -V\": $out\n";
}

# Wipe the server root (except our lock) and recreate its directories.
sub setup_server_root {
    opendir my $dh, $ServRoot or die "cannot open $ServRoot: $!\n";
    my @entries = grep { $_ ne '.' && $_ ne '..' && $_ ne '.lock' }
                  readdir $dh;
    closedir $dh;

    for my $e (@entries) {
        my $path = File::Spec->catfile($ServRoot, $e);
        if (-d $path && !-l $path) {
            remove_tree($path);

        } else {
            unlink $path;
        }
    }

    for my $d ($LogDir, $HtmlDir, $ConfDir) {
        make_path($d) if !-d $d;
    }

    my $index = File::Spec->catfile($HtmlDir, 'index.html');
    open my $out, '>', $index or die "cannot write $index: $!\n";
    print $out '<html><head><title>It works!</title></head>'
               . '<body>It works!</body></html>';
    close $out;
}

# "--- user_files": ">>> name [touch -t date]" lines followed by the
# content, or (with eval) [[name, content, date], ...]. Relative names go
# under html_dir.
sub write_user_files {
    my ($block, $rand_ports) = @_;

    my $files = $block->user_files;
    return if !defined $files;

    if (!ref $files) {
        my @list;
        my $cur;
        for my $line (split /^/, $files) {
            if ($line =~ /^>>> (\S+)(?:[ \t]+(\S.*?))?\s*$/) {
                $cur = [$1, '', $2];
                push @list, $cur;

            } elsif ($cur) {
                $cur->[1] .= $line;

            } elsif ($line =~ /\S/) {
                die "--- user_files: content before the first "
                    . "\">>> filename\" line\n";
            }
        }
        $files = \@list;

    } elsif (ref $files ne 'ARRAY') {
        die "--- user_files: expected text or an array reference, got "
            . ref($files) . "\n";
    }

    for my $f (@$files) {
        if (ref $f ne 'ARRAY' || !defined $f->[0] || $f->[0] eq '') {
            die "--- user_files: each entry must be [name, content, "
                . "date?]\n";
        }

        my ($fname, $body, $date) = @$f;
        $body = '' if !defined $body;

        my $path = $fname =~ m{^/} ? $fname
                                   : File::Spec->catfile($HtmlDir, $fname);
        my $dir = dirname($path);
        make_path($dir) if !-d $dir;

        $body = expand_env_in_text($body, scalar($block->name), $rand_ports);

        open my $out, '>', $path or die "cannot write $path: $!\n";
        binmode $out;
        print $out $body;
        close $out;

        if (defined $date && $date ne '') {
            local $ENV{TZ} = 'GMT';
            system('touch', '-t', $date, $path) == 0
                or die "--- user_files: touch -t '$date' $path failed\n";
        }
    }
}

sub _mentions {
    my ($text, $directive) = @_;
    return 0 if !defined $text;
    return $text =~ /(?:^|[;{}\s])\Q$directive\E\s/m;
}

sub _has_module {
    my ($name) = @_;
    return $NginxConfigureArgs !~ /--without-\Q$name\E\b/;
}

sub _load_module_lines {
    return '' if !$LoadModules;

    my $out = '';
    for my $m (grep { length } split /\s+/, $LoadModules) {
        my $path = $m;
        if ($path !~ m{^/} && !-e File::Spec->catfile($ServRoot, $path)
            && -e $path)
        {
            # a path relative to where prove runs, not to the prefix
            $path = File::Spec->rel2abs($path);
        }
        $out .= "load_module $path;\n";
    }
    return $out;
}

sub write_config_file {
    my ($block, $config, $rand_ports) = @_;

    my $name = $block->name;
    my $http_config = expand_env_in_text(scalar($block->http_config), $name,
                                         $rand_ports);
    my $main_config = expand_env_in_text(scalar($block->main_config), $name,
                                         $rand_ports);
    my $post_main = expand_env_in_text(scalar($block->post_main_config), $name,
                                       $rand_ports);
    my $server_name = $block->server_name;
    my $log_level = $block->log_level;

    $config = '' if !defined $config;
    $http_config = '' if !defined $http_config;
    $main_config = '' if !defined $main_config;
    $post_main = '' if !defined $post_main;
    $server_name = $ServerName if !defined $server_name;
    $log_level = $LogLevel if !defined $log_level || $log_level !~ /\S/;
    $log_level =~ s/^\s+|\s+$//g;
    $server_name =~ s/^\s+|\s+$//g;
    (my $quoted_name = $server_name) =~ s/(['\\])/\\$1/g;

    my $main_all = "$main_config\n$post_main";

    my $conf = "# generated by Test::Nginx (t/lib) for: $name\n";
    $conf .= _load_module_lines();
    $conf .= "worker_processes  $Workers;\n"
           . "daemon $DaemonEnabled;\n"
           . "master_process $MasterProcessEnabled;\n"
           . "error_log $ErrLogFile $log_level;\n"
           . "pid       $PidFile;\n";

    if (!_mentions($main_all, 'lock_file')) {
        $conf .= "lock_file $LogDir/nginx.lock;\n";
    }

    for my $v (@EnvToNginx) {
        my $q = $v =~ /\s/ ? "'$v'" : $v;
        $conf .= "env $q;\n";
    }

    $conf .= "\n$main_config\n\nhttp {\n"
           . "    access_log $AccLogFile;\n"
           . "    default_type text/plain;\n"
           . "    keepalive_timeout  68;\n";

    # Debian's nginx has temp paths under /var/lib/nginx compiled in
    my @temps = (['client_body_temp_path', 'client_body_temp', 'http'],
                 ['proxy_temp_path', 'proxy_temp', 'http_proxy_module'],
                 ['fastcgi_temp_path', 'fastcgi_temp', 'http_fastcgi_module'],
                 ['uwsgi_temp_path', 'uwsgi_temp', 'http_uwsgi_module'],
                 ['scgi_temp_path', 'scgi_temp', 'http_scgi_module']);

    for my $t (@temps) {
        my ($directive, $dir, $module) = @$t;
        next if _mentions($http_config, $directive);
        next if $module ne 'http' && !_has_module($module);
        $conf .= "    $directive $ServRoot/$dir;\n";
    }

    $conf .= "\n$http_config\n\n"
           . "    server {\n"
           . "        listen          $ServerAddr:$ServerPort;\n"
           . "        server_name     '$quoted_name';\n"
           . "        client_max_body_size 30M;\n\n"
           . "        # Begin preamble config...\n$ConfigPreamble\n"
           . "        # End preamble config...\n\n"
           . "        # Begin test case config...\n$config\n"
           . "        # End test case config.\n\n";

    if (!$NoRootLocation) {
        $conf .= "        location / {\n"
               . "            root $HtmlDir;\n"
               . "            index index.html index.htm;\n"
               . "        }\n";
    }

    $conf .= "    }\n}\n\n$post_main\n\n"
           . "events {\n"
           . "    accept_mutex off;\n"
           . "    worker_connections  $WorkerConnections;\n";

    if ($ENV{TEST_NGINX_EVENT_TYPE}) {
        $conf .= "    use $ENV{TEST_NGINX_EVENT_TYPE};\n";
    }

    $conf .= "}\n";

    if ($ENV{TEST_NGINX_WORKER_USER}) {
        $conf .= "user $ENV{TEST_NGINX_WORKER_USER};\n";

    } elsif ($> == 0) {
        $conf .= "user root;\n";
    }

    open my $out, '>', $ConfFile or die "cannot write $ConfFile: $!\n";
    print $out $conf;
    close $out;
}

our $NginxPid;

sub _pid_alive {
    my ($pid) = @_;
    return 0 if !$pid || !kill(0, $pid);

    # a zombie nobody reaped is as good as gone
    if (open my $fh, '<', "/proc/$pid/stat") {
        my $stat = <$fh>;
        close $fh;
        return 0 if defined $stat && $stat =~ /^\d+ \(.*\) Z/s;
    }
    return 1;
}

sub _cmdline_has {
    my ($pid, $text) = @_;
    open my $in, '<', "/proc/$pid/cmdline" or return 0;
    local $/;
    my $cmd = <$in>;
    return defined $cmd && index($cmd, $text) >= 0;
}

sub nginx_is_running {
    return _pid_alive($NginxPid);
}

sub _read_pid_file {
    open my $in, '<', $PidFile or return undef;
    my $pid = <$in>;
    close $in;
    return undef if !defined $pid;
    $pid =~ s/\s+//g;
    return $pid =~ /^\d+$/ ? $pid : undef;
}

# Run the nginx binary on the current config. Returns a hash:
#   status   wait status of the nginx command (0 = configuration accepted)
#   exit     its exit code, output its stdout+stderr,
#   error    a reason when nginx is not up and running (undef if it is)
sub start_nginx {
    get_nginx_version();

    my @cmd = ($NginxBinary, '-p', "$ServRoot/", '-c', $ConfFile);

    # nginx >= 1.19.5: startup messages go to our error.log, as they do
    # with a default-built nginx (Debian's default error log is stderr)
    push @cmd, '-e', $ErrLogFile if $NginxVersion >= 1.019005;

    # valgrind, or what TEST_NGINX_PREFIX_CMD asks (Test::Nginx::Sanitize)
    unshift @cmd, Test::Nginx::Sanitize::prefix(start => 1);

    unlink $StartupOutFile;
    undef $NginxPid;

    my $pid = fork();
    if (!defined $pid) {
        return { status => -1, exit => -1, output => '',
                 error => "fork failed: $!" };
    }

    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $StartupOutFile;
        open STDERR, '>&', \*STDOUT;
        { exec @cmd }
        print STDERR "exec @cmd failed: $!\n";
        POSIX::_exit(127);
    }

    my $status;
    my $deadline = time + 30;
    while (1) {
        my $r = waitpid($pid, WNOHANG);
        if ($r == $pid) {
            $status = $?;
            last;
        }
        if (time > $deadline) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
            $status = -1;
            last;
        }
        sleep 0.005;
    }

    my $output = '';
    if (open my $in, '<', $StartupOutFile) {
        local $/;
        $output = <$in>;
        $output = '' if !defined $output;
        close $in;
    }

    my %res = (status => $status,
               exit => $status == -1 ? -1 : $status >> 8,
               signal => $status == -1 ? 0 : $status & 127,
               output => $output,
               cmd => "@cmd");

    if ($status == -1) {
        $res{error} = "\"@cmd\" did not return within 30 seconds";
        return \%res;
    }

    if ($status != 0) {
        my $why = $output =~ /(\[emerg\][^\n]*)/ ? $1
                : $output =~ /(\S[^\n]*)/ ? $1 : "no output";
        $res{error} = "nginx failed to start (exit code $res{exit}): $why";
        return \%res;
    }

    # the daemon writes its pid file right after forking
    my $deadline2 = time + 5;
    while (time < $deadline2) {
        my $p = _read_pid_file();
        if ($p && _pid_alive($p)) {
            $NginxPid = $p;
            last;
        }
        sleep 0.005;
    }

    if (!$NginxPid) {
        my $tail = error_log_tail(5);
        $res{error} = "nginx exited right after starting; error.log ends "
                      . "with:\n$tail";
    }

    return \%res;
}

# Stop nginx gracefully (SIGQUIT, like "nginx -s quit") and wait for the
# process to go away; kill it if it takes longer than $StopTimeout.
# Returns a warning string when it had to be killed.
sub stop_nginx {
    my ($name, %opts) = @_;

    my $pid = $NginxPid;
    undef $NginxPid;

    if (!$pid) {
        # an nginx left over by an earlier run in this server root
        # (killed test, TEST_NGINX_NO_CLEAN); make sure the pid is still
        # that nginx and not a recycled one
        $pid = _read_pid_file();
        return undef if !$pid || !_cmdline_has($pid, $ServRoot);
    }

    if (!_pid_alive($pid)) {
        # it died on its own (a sanitizer stops it so): what it wrote to
        # its error.log counts all the same (Test::Nginx::Sanitize)
        Test::Nginx::Sanitize::scan_log($ErrLogFile);
        return undef;
    }

    kill 'QUIT', $pid;

    my $deadline = time + $StopTimeout;
    while (_pid_alive($pid) && time < $deadline) {
        sleep 0.01;
    }

    # sanitizer reports nginx wrote to its error.log (Test::Nginx::Sanitize)
    Test::Nginx::Sanitize::scan_log($ErrLogFile);

    return undef if !_pid_alive($pid);

    my $msg = "nginx (pid $pid) did not exit within ${StopTimeout}s of "
              . "SIGQUIT; killed";
    kill 'KILL', $pid;
    my $d2 = time + 5;
    while (_pid_alive($pid) && time < $d2) {
        sleep 0.01;
    }

    Test::More::diag("$name - WARNING: $msg") if !$opts{quiet};
    return $msg;
}

# Lines of error.log written since the last read (or since the block
# started with check_accum_error_log). Waits until the file stops growing,
# since nginx may still be writing the log phase of the last request.
our $BlockErrLogStart = 0;

sub error_log_data {
    _wait_log_settled($ErrLogFile);

    open my $in, '<', $ErrLogFile or return [];
    binmode $in;

    my $pos = $CheckAccumErrLog ? $BlockErrLogStart : $ErrLogFilePos;
    seek $in, $pos, 0 if $pos > 0;

    local $/;
    my $data = <$in>;
    close $in;
    $data = '' if !defined $data;

    # leave a half-written last line for the next read
    my $cut = rindex($data, "\n");
    $data = $cut >= 0 ? substr($data, 0, $cut + 1) : '';

    if (!$CheckAccumErrLog) {
        $ErrLogFilePos = $pos + length $data;
    }

    return [ split /^/, $data ];
}

sub error_log_tail {
    my ($n) = @_;

    open my $in, '<', $ErrLogFile or return "(no error.log)";
    my @lines = <$in>;
    close $in;
    @lines = @lines[-$n .. -1] if @lines > $n;
    return join '', @lines;
}

sub access_log_data {
    _wait_log_settled($AccLogFile);
    open my $in, '<', $AccLogFile or return [];
    my @lines = <$in>;
    close $in;
    return \@lines;
}

sub _wait_log_settled {
    my ($file) = @_;

    sleep $TestNginxSleep * 2;
    my $prev = -s $file;
    for (1 .. 50) {
        sleep 0.02;
        my $size = -s $file;
        last if (defined $size ? $size : -1) == (defined $prev ? $prev : -1);
        $prev = $size;
    }
}

1;
