package OIE::Gdb;
# Stops a running process at a function, with gdb, so that a test can kill
# it at a chosen point (a worker holding rows it took from the ring, say).
#
#   my $g = OIE::Gdb->stop_at($pid, 'ngx_http_oie_bq_take', $dir) or fail;
#   ... make the process reach the function ...
#   $g->wait_stopped(30) or fail;
#   $g->kill;           # SIGKILL to the process, then gdb goes
use strict;
use warnings;
use POSIX ();
use Time::HiRes qw(sleep);

our $GDB = '/usr/bin/gdb';

# undef when gdb is missing or could not attach in 30 s (see ->log)
sub stop_at {
    my ($class, $pid, $function, $dir) = @_;
    return undef unless -x $GDB;
    my $self = bless { pid => $pid, flag => "$dir/gdb-$pid", log => "$dir/gdb-$pid.log" }, $class;
    my $gpid = fork // die "fork: $!";
    if (!$gpid) {
        open STDOUT, '>', $self->{log};
        open STDERR, '>&', \*STDOUT;
        exec $GDB, '-nx', '-batch', '-p', $pid,
            '-ex', 'set pagination off',
            '-ex', "break $function",
            '-ex', "shell touch $self->{flag}.ready",
            '-ex', 'continue',
            '-ex', "shell touch $self->{flag}",
            '-ex', 'shell sleep 120'
            or POSIX::_exit(127);
    }
    $self->{gdb} = $gpid;
    for (1 .. 300) {
        return $self if -e "$self->{flag}.ready";
        last if waitpid($gpid, POSIX::WNOHANG()) == $gpid;
        sleep 0.1;
    }
    $self->kill;
    return undef;
}

# true once the process stopped at the function
sub wait_stopped {
    my ($self, $secs) = @_;
    for (1 .. ($secs // 30) * 10) {
        return 1 if -e $self->{flag};
        sleep 0.1;
    }
    return 0;
}

sub kill {
    my ($self) = @_;
    CORE::kill('KILL', $self->{pid});
    if ($self->{gdb}) {
        CORE::kill('KILL', $self->{gdb});
        waitpid $self->{gdb}, 0;
        delete $self->{gdb};
    }
}

sub log {
    my ($self) = @_;
    open my $fh, '<', $self->{log} or return '';
    local $/;
    return scalar <$fh>;
}

1;
