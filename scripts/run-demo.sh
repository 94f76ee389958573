#!/usr/bin/env bash
# make run: Redis and nginx with the module on 127.0.0.1:8080, sample leads
# loaded, tracking links printed; stays in the foreground until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUN=$ROOT/build/run
# the module and the CLI: build-san/ for make run SAN=1 (the Makefile says)
BUILT=${OIE_BUILD_DIR:-$ROOT/build}
if [ -z "${OIE_NGINX:-}" ] \
        && ldd "$BUILT/ngx_http_oie_module.so" 2>/dev/null | grep -q libasan
then
    echo "run-demo: $BUILT/ngx_http_oie_module.so is a SAN=1 build: nginx" \
         "needs the ASan runtime preloaded; set OIE_NGINX to a wrapper" \
         "that does (make test SAN=1 writes $BUILT/nginx-san)" >&2
    exit 1
fi
# not $NGINX: nginx itself reads that variable (inherited sockets)
NGINX=${OIE_NGINX:-/usr/sbin/nginx}
PORT=${OIE_DEMO_PORT:-8080}
CONF=build/run/oie-demo.conf

mkdir -p "$RUN/tmp" "$RUN/events" "$RUN/redis"

free_port() {
    local port=$1
    while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        port=$((port + 1))
    done
    echo "$port"
}

stop_all() {
    trap - INT TERM EXIT
    echo
    echo "stopping nginx (draining events to files) and redis..."
    if [ -f "$RUN/nginx.pid" ]; then
        "$NGINX" -p "$ROOT/" -c "$CONF" -s quit 2>/dev/null || true
        for _ in $(seq 1 50); do
            [ -f "$RUN/nginx.pid" ] || break
            sleep 0.1
        done
    fi
    if [ -n "${REDIS_PORT:-}" ]; then
        redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    fi
    echo "events are in $RUN/events/"
    exit 0
}

if [ -f "$RUN/nginx.pid" ] && kill -0 "$(cat "$RUN/nginx.pid")" 2>/dev/null; then
    echo "a demo nginx is already running (pid $(cat "$RUN/nginx.pid")); stopping it"
    "$NGINX" -p "$ROOT/" -c "$CONF" -s quit || true
    sleep 1
fi

REDIS_PORT=$(free_port 6379)

# the demo conf, with the ports of this run
sed -e "s/127\.0\.0\.1:6379/127.0.0.1:$REDIS_PORT/g" \
    -e "s/127\.0\.0\.1:8080/127.0.0.1:$PORT/g" \
    -e "s|^load_module build/ngx_http_oie_module\.so;|load_module $BUILT/ngx_http_oie_module.so;|" \
    conf/oie-demo.conf > "$CONF"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
    --appendonly no --dir "$RUN/redis" --daemonize yes \
    --logfile "$RUN/redis/redis.log" >/dev/null
trap stop_all INT TERM EXIT

"$NGINX" -p "$ROOT/" -c "$CONF" -t -q
"$NGINX" -p "$ROOT/" -c "$CONF"

echo
echo "Outbound Intent Engine demo"
echo "  landing page     http://127.0.0.1:$PORT/"
echo "  event endpoint   POST http://127.0.0.1:$PORT/t"
echo "  status           http://127.0.0.1:$PORT/oie/status"
echo "  redis            127.0.0.1:$REDIS_PORT"
echo "  events land in   $RUN/events/events/*.ndjson (a file completes every 5s)"
echo "  nginx log        $RUN/error.log"

if [ -x "$BUILT/oie" ] && [ -f pixel/examples/sample-leads.csv ]; then
    rm -rf "$RUN/campaign"
    "$BUILT/oie" campaign create --name "Demo Campaign" \
        --leads pixel/examples/sample-leads.csv \
        --base-url http://127.0.0.1:$PORT --landing http://127.0.0.1:$PORT/ \
        --out "$RUN/campaign" >/dev/null
    "$BUILT/oie" leads push --redis "127.0.0.1:$REDIS_PORT" \
        "$RUN"/campaign/*identities*.ndjson >/dev/null
    echo
    echo "Sample leads loaded into Redis; their tracking links (open one in a browser,"
    echo "then watch the events arrive):"
    tail -n +2 "$RUN"/campaign/*-urls.csv | head -5 \
        | grep -o "http://127.0.0.1:$PORT/r/[^,\"]*" | sed 's/^/  /' || true
    echo "  personalization: curl 'http://127.0.0.1:$PORT/p?i=<id>'"
    echo "  clicks and opens land in $RUN/events/email_clicks/*.ndjson"
fi

echo
echo "Try:  curl -i -X POST http://127.0.0.1:$PORT/t -H 'Content-Type: application/json' \\"
echo "        -d '{\"events\":[{\"type\":\"pageview\",\"timestamp\":$(date +%s)000,\"sessionId\":\"s1\",\"visitorId\":\"v1\",\"url\":\"http://127.0.0.1:$PORT/\"}]}'"
echo
echo "Press Ctrl-C to stop."

while kill -0 "$(cat "$RUN/nginx.pid" 2>/dev/null || echo 0)" 2>/dev/null; do
    sleep 1
done
echo "nginx exited; see $RUN/error.log"
