package OIE::Env;

# Defaults for running one test file by hand (prove t/x.t): the modules to
# load and the nginx binary, as scripts/run-tests.sh sets them for make test.

use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);

my $root = $ENV{OIE_ROOT}
    || abs_path(dirname(abs_path(__FILE__)) . '/../../..');

$ENV{OIE_ROOT} //= $root;
$ENV{TEST_NGINX_BINARY} //= '/usr/sbin/nginx';
$ENV{TEST_NGINX_LOAD_MODULES} //=
    "/usr/lib/nginx/modules/ndk_http_module.so $root/build/ngx_http_oie_module.so";

1;
