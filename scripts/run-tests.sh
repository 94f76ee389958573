#!/usr/bin/env bash
# Runs every suite (make test calls this after building): the Test::Nginx
# suites and other Perl tests under t/, the C unit tests, and the node tests
# of pixel/, sql/ and the BigQuery stand-in.  The last line is the summary,
# "N passed, N failed"; the exit status is non-zero on any failure.
set -u
cd "$(dirname "$0")/.."

export TEST_NGINX_BINARY=${TEST_NGINX_BINARY:-/usr/sbin/nginx}
export TEST_NGINX_LOAD_MODULES=${TEST_NGINX_LOAD_MODULES:-"/usr/lib/nginx/modules/ndk_http_module.so $PWD/build/ngx_http_oie_module.so"}
export OIE_ROOT=$PWD

exec perl t/run-suites.pl "$@"
