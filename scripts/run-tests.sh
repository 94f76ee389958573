#!/usr/bin/env bash
# Runs every suite (make test calls this after building): the Test::Nginx
# suites and other Perl tests under t/, the C unit tests, and the node tests
# of pixel/, sql/ and the BigQuery stand-in.  The last line is the summary,
# "N passed, N failed"; the exit status is non-zero on any failure.
set -u
cd "$(dirname "$0")/.."

# make test SAN=1 builds into build-san/: the Makefile says where.  Every
# suite takes the module, the CLI and the unit tests from there.
build=${OIE_BUILD_DIR:-$PWD/build}
export OIE_BUILD_DIR=$build

export TEST_NGINX_BINARY=${TEST_NGINX_BINARY:-/usr/sbin/nginx}
export TEST_NGINX_LOAD_MODULES=${TEST_NGINX_LOAD_MODULES:-"/usr/lib/nginx/modules/ndk_http_module.so $build/ngx_http_oie_module.so"}
export OIE_ROOT=$PWD
# the CLI: t/cli (OIE_BIN), the pixel's browser harness (OIE_CLI and
# OIE_MODULE)
export OIE_BIN=${OIE_BIN:-$build/oie} OIE_CLI=${OIE_CLI:-$build/oie}
export OIE_MODULE=${OIE_MODULE:-$build/ngx_http_oie_module.so}

instrumented() {
    ldd "$build/ngx_http_oie_module.so" 2>/dev/null | grep -q libasan
}

# an instrumented module only loads with the ASan runtime preloaded: take
# it for what it is even when SAN is not set
if [ "${SAN:-}" != 1 ] && instrumented; then
    echo "run-tests: $build/ngx_http_oie_module.so is a SAN=1 build:" \
         "running with the sanitizers" >&2
    SAN=1
fi

if [ "${SAN:-}" = 1 ] && ! instrumented; then
    echo "run-tests: SAN=1 but $build/ngx_http_oie_module.so is not" \
         "instrumented (make test SAN=1 builds it into build-san/)" >&2
    echo "0 passed, 1 failed"
    exit 2
fi

if [ "${SAN:-}" = 1 ]; then
    # Debian's nginx is not instrumented: the module's ASan runtime must be
    # preloaded, in nginx only (not perl or node).  Every caller of
    # TEST_NGINX_BINARY or NGINX gets this wrapper; each report (in
    # TEST_NGINX_REPORT_DIR, or in nginx's error.log) fails the test file
    # that caused it (t/lib/Test/Nginx/Sanitize.pm); a test may point
    # TEST_NGINX_REPORT_DIR elsewhere for the nginx it runs (t/san/canary.t).
    # UBSan's reports stop the worker and land in its error.log: nginx
    # hides UBSAN_OPTIONS from UBSan, t/san/ubsan_options.c gives it back
    # (UBSan linked with ASan takes no log_path: stderr it is).
    # ASan opens asan.PID at its first report, in a worker that may run as
    # nobody or www-data already, and if it cannot, dies with the report
    # lost (only "Can't open file" in error.log): the directory is
    # writable by all, like /tmp.  After the suites,
    # t/run-suites.pl fails the run on any report left there, from whichever
    # nginx it came (the pixel's harness, the demo's).
    reports=$build/san-reports
    rm -rf "$reports" && mkdir -p "$reports" && chmod 1777 "$reports"
    cc -shared -fPIC -O2 -o "$build/ubsan-options.so" t/san/ubsan_options.c \
        || exit 2
    {
        echo '#!/bin/sh'
        echo '# nginx reads $NGINX as inherited sockets: never pass it on'
        echo 'unset NGINX'
        echo "export LD_PRELOAD=\"$(gcc -print-file-name=libasan.so) $build/ubsan-options.so\""
        echo "export ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=0:log_path=\${TEST_NGINX_REPORT_DIR:-$reports}/asan"
        echo "export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1"
        echo "exec $TEST_NGINX_BINARY \"\$@\""
    } > "$build/nginx-san"
    chmod +x "$build/nginx-san"
    # NGINX: the pixel harness; OIE_NGINX: scripts/run-demo.sh, bench.sh
    export TEST_NGINX_BINARY=$build/nginx-san NGINX=$build/nginx-san
    export OIE_NGINX=$build/nginx-san
    export TEST_NGINX_REPORT_DIR=$reports
fi

exec perl t/run-suites.pl "$@"
