package OIE::Deploy;

# Helpers for the tests that keep what we ship true: conf/*.conf, docker/
# and README.md (t/conf.t, t/docker.t, t/readme.t).
#
#   src_directives()     {name => {flags => '...', file => ...}} from every
#                        command table in src/ngx_http_oie_*module.c
#   src_variables()      {name => file} from every ngx_http_variable_t table
#   activate($text, @drop)  the text with the "#+ " marks taken off, but
#                        for statements naming a directive/variable of @drop
#   activate_t($prefix, $path, $text)  nginx -t on it with every "#+ "
#                        statement on that the module can take
#   missing_oie($out)    the oie_* directive or $oie_* variable nginx -t
#                        called unknown, or undef
#   nginx_t($prefix, $conf)  (ok, output) of nginx -t
#   tls_cert($dir, $name)    a self-signed certificate and key for $name
#   curl(%o)             one request with curl: (status, {headers}, body)
#   mkdirs(@dirs)        make_path, every new directory 0755 (workers run
#                        as another user and must get through)

use strict;
use warnings;

use Exporter 'import';
use File::Path qw(make_path);
use File::Temp qw(tempfile);
use OIE::Nginx;

our @EXPORT_OK = qw(src_directives src_variables activate activate_t
                    missing_oie
                    nginx_t tls_cert curl mkdirs slurp spew root module_so);

sub root { OIE::Nginx::root_dir() }

# the module file under test (TEST_NGINX_LOAD_MODULES names it)
sub module_so {
    my ($so) = grep { m{/ngx_http_oie_module\.so$} } OIE::Nginx::modules();
    return $so // root() . '/build/ngx_http_oie_module.so';
}

sub slurp {
    my $path = shift;
    open my $fh, '<', $path or die "$path: $!\n";
    local $/;
    return scalar <$fh>;
}

sub spew {
    my ($path, $text) = @_;
    open my $fh, '>', $path or die "$path: $!\n";
    print $fh $text;
    close $fh or die "$path: $!\n";
}

sub mkdirs {
    make_path(@_, { mode => 0755 });
    chmod 0755, @_;
}

# The command tables: every { ngx_string("name"), FLAGS, ... } entry between
# "ngx_command_t xxx[] = {" and "ngx_null_command".
sub src_directives {
    my $root = shift // root();
    my %d;
    for my $file (sort glob "$root/src/ngx_http_oie_*module.c") {
        my $text = slurp($file);
        while ($text =~ /ngx_command_t\s+\w+\[\]\s*=\s*\{(.*?)ngx_null_command/sg) {
            my $table = $1;
            while ($table =~ /\{\s*ngx_string\("([^"]+)"\)\s*,\s*([^,]+),/sg) {
                my ($name, $flags) = ($1, $2);
                $flags =~ s/\s+//g;
                $d{$name} = { flags => $flags, file => $file };
            }
        }
    }
    return \%d;
}

sub src_variables {
    my $root = shift // root();
    my %v;
    for my $file (sort glob "$root/src/ngx_http_oie_*.c") {
        my $text = slurp($file);
        while ($text =~ /ngx_http_variable_t\s+\w+\[\]\s*=\s*\{(.*?)ngx_http_null_variable/sg) {
            my $table = $1;
            $v{$1} = $file while $table =~ /ngx_string\("([^"]+)"\)/g;
        }
    }
    return \%v;
}

# The "#+ " lines uncommented, but for the statements (lines up to a ";",
# "{" or "}") that name one of @drop: those stay commented (with the
# statements that use a log_format left commented, which come later).
sub activate {
    my ($text, @drop) = @_;
    my (@out, @stmt);
    my $flush = sub {
        my $body = join '', @stmt;
        my $keep = grep { $body =~ /(?<![\w\$])\Q$_\E\b/ } @drop;
        # a log_format left off takes the access_log lines using it along
        push @drop, $1 if $keep && $body =~ /^\s*#\+\s*log_format\s+(\w+)/;
        push @out, $keep ? @stmt : map { s/^(\s*)#\+ ?/$1/r } @stmt;
        @stmt = ();
    };
    for my $line (split /^/, $text) {
        if ($line =~ /^\s*#\+/) {
            push @stmt, $line;
            $flush->() if $line =~ /[;{}]\s*(?:#.*)?$/;
            next;
        }
        $flush->() if @stmt;
        push @out, $line;
    }
    $flush->() if @stmt;
    return join '', @out;
}

# nginx -t on $text with its "#+ " lines on, leaving off the statements
# that need a directive or variable the module does not have and src/ does
# not define either.  Returns (ok, output, [left off], known-but-unknown):
# the last is set when nginx did not know a name src/ defines (a stale
# build or a wrong conf).
sub activate_t {
    my ($prefix, $path, $text, @g) = @_;
    my (@drop, $ok, $out);
    my $dirs = src_directives();
    my $vars = src_variables();
    for (1 .. 20) {
        spew("$prefix/$path", activate($text, @drop));
        ($ok, $out) = nginx_t($prefix, $path, @g);
        return ($ok, $out, \@drop) if $ok;
        my $name = missing_oie($out) or return (0, $out, \@drop);
        my $known = $name =~ /^\$(.*)/ ? $vars->{$1} : $dirs->{$name};
        return (0, $out, \@drop, $name) if $known;
        return (0, $out, \@drop) if grep { $_ eq $name } @drop;
        push @drop, $name;
    }
    return (0, $out, \@drop);
}

sub missing_oie {
    my $out = shift // '';
    return $1 if $out =~ /unknown directive "((?:set_)?oie_\w+)"/;
    return "\$$1" if $out =~ /unknown "(oie_\w+)" variable/;
    return undef;
}

sub nginx_t {
    my ($prefix, $conf, @g) = @_;
    my @cmd = ($OIE::Nginx::Binary, '-t', '-p', "$prefix/", '-c', $conf,
               (map { ('-g', $_) } @g));
    my $out = _capture(@cmd);
    return ($? == 0, $out);
}

sub _capture {
    my @cmd = @_;
    my $pid = open my $fh, '-|';
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        open STDERR, '>&', \*STDOUT;
        exec { $cmd[0] } @cmd or do { print "exec $cmd[0]: $!\n"; exit 127 };
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return $out;
}

sub tls_cert {
    my ($dir, $name) = @_;
    mkdirs($dir);
    my @cmd = ('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
               '-days', '2', '-subj', "/CN=$name",
               '-addext', "subjectAltName=DNS:$name",
               '-keyout', "$dir/$name.key", '-out', "$dir/$name.crt");
    my $out = _capture(@cmd);
    die "openssl failed: $out" if $?;
    chmod 0600, "$dir/$name.key";
    return ("$dir/$name.crt", "$dir/$name.key");
}

# curl(url => U, method => M, headers => {..}, body => B, from => IP,
#      resolve => 'host:port:addr', cacert => F, gzip => 1, urls => [...])
# With urls, every URL is fetched on one connection; returns the statuses.
sub curl {
    my (%o) = @_;
    my ($hfh, $hfile) = tempfile('oie-curl-XXXXXX', TMPDIR => 1, UNLINK => 1);
    my ($bfh, $bfile) = tempfile('oie-curl-XXXXXX', TMPDIR => 1, UNLINK => 1);
    my @cmd = ('curl', '-s', '--max-time', '10');
    push @cmd, '--interface', $o{from} if $o{from};
    push @cmd, '--resolve', $o{resolve} if $o{resolve};
    push @cmd, '--cacert', $o{cacert} if $o{cacert};
    push @cmd, '-H', 'Accept-Encoding: gzip' if $o{gzip};
    push @cmd, '-X', $o{method} if $o{method};
    for my $h (sort keys %{ $o{headers} // {} }) {
        push @cmd, '-H', "$h: $o{headers}{$h}";
    }
    push @cmd, '--data-binary', $o{body} if defined $o{body};
    if ($o{urls}) {
        push @cmd, '-w', '%{http_code}\n',
                   map { ('-o', '/dev/null', $_) } @{ $o{urls} };
        return split /\n/, _capture(@cmd);
    }
    push @cmd, '-D', $hfile, '-o', $bfile, '-w', '%{http_code}', $o{url};
    my $code = _capture(@cmd);
    my %h;
    for (split /\r?\n/, slurp($hfile)) {
        $h{lc $1} = $2 if /^([^:\s]+):\s*(.*?)\s*$/;
    }
    return ($code =~ /^(\d+)$/ ? $1 : 0, \%h, slurp($bfile));
}

1;
