package OIE::Deploy;

# Helpers for the tests that keep what we ship true: conf/*.conf, docker/
# and README.md (t/conf.t, t/docker.t, t/readme.t).
#
#   src_directives()     {name => {flags => '...', file => ...}} from every
#                        command table in src/ngx_http_oie_*module.c
#   src_variables()      {name => file} from every ngx_http_variable_t table
#   activate($text)      the text with the "#+ " marks taken off
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

our @EXPORT_OK = qw(src_directives src_variables activate missing_oie
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

sub activate {
    my $text = shift;
    $text =~ s/^(\s*)#\+ ?/$1/mg;
    return $text;
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
