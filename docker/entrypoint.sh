#!/bin/sh
# The container's entrypoint: renders nginx.conf from docker/nginx.conf.template
# and the OIE_* environment (docker/README.md lists them), then runs the
# command: "nginx" (the default) starts nginx with that conf in the
# foreground; anything else runs as given, after the conf is written.
#
# Every value is checked before it goes into the conf: a bad one stops the
# container with a message naming the variable (exit 64), so no value can
# add directives of its own.  Secrets are never printed.
set -eu
set -f      # no globbing: OIE_ALLOWED_ORIGINS may be "*"

OIE_HOME=${OIE_HOME:-/opt/oie}
OIE_DATA=${OIE_DATA:-/var/lib/oie}
OIE_CONF=${OIE_CONF:-$OIE_DATA/nginx.conf}
OIE_TEMPLATE=${OIE_TEMPLATE:-$OIE_HOME/docker/nginx.conf.template}
OIE_PORT=${OIE_PORT:-8080}
OIE_SERVER_NAME=${OIE_SERVER_NAME:-_}
OIE_WORKERS=${OIE_WORKERS:-auto}
OIE_ZONE_SIZE=${OIE_ZONE_SIZE:-64m}
OIE_BQ_PROJECT=${OIE_BQ_PROJECT:-}
OIE_BQ_DATASET=${OIE_BQ_DATASET:-outbound_sales}
OIE_BQ_KEY=${OIE_BQ_KEY:-/run/secrets/oie/bigquery-sa.json}
OIE_BQ_ENDPOINT=${OIE_BQ_ENDPOINT:-}
OIE_SPOOL_MAX=${OIE_SPOOL_MAX:-10g}
OIE_ALLOWED_ORIGINS=${OIE_ALLOWED_ORIGINS:-}
OIE_REAL_IP_FROM=${OIE_REAL_IP_FROM:-}
OIE_STATUS_ALLOW=${OIE_STATUS_ALLOW:-}
OIE_REDIS=${OIE_REDIS:-redis:6379}
OIE_FALLBACK_URL=${OIE_FALLBACK_URL:-https://example.com/}
OIE_PERSONALIZE_FIELDS=${OIE_PERSONALIZE_FIELDS:-firstName,company}
OIE_LINK_SECRET=${OIE_LINK_SECRET:-}
OIE_IP_ANONYMIZE=${OIE_IP_ANONYMIZE:-off}

NL='
'

die() {
    echo "oie-entrypoint: $*" >&2
    exit 64
}

# check NAME VALUE ERE WHAT: VALUE must match ERE as a whole, on one line
check() {
    case $2 in
        *"$NL"*) die "$1 must be one line" ;;
    esac
    printf '%s\n' "$2" | grep -Eqx -- "$3" \
        || die "$1=\"$2\" is not valid: expected $4"
}

# check_list NAME VALUE ERE WHAT: each space-separated word
check_list() {
    for w in $2; do
        check "$1" "$w" "$3" "$4 (space-separated)"
    done
}

check OIE_HOME "$OIE_HOME" '/[A-Za-z0-9._/-]*' 'an absolute path'
check OIE_DATA "$OIE_DATA" '/[A-Za-z0-9._/-]*' 'an absolute path'
check OIE_PORT "$OIE_PORT" '[0-9]{4,5}' \
    'a port from 1024 to 65535 (the container is not root)'
[ "$OIE_PORT" -ge 1024 ] && [ "$OIE_PORT" -le 65535 ] \
    || die "OIE_PORT=\"$OIE_PORT\" is not valid: expected a port from 1024 to 65535 (the container is not root)"
check OIE_SERVER_NAME "$OIE_SERVER_NAME" '[A-Za-z0-9_.*-]+' 'a host name'
check OIE_WORKERS "$OIE_WORKERS" 'auto|[1-9][0-9]?' '"auto" or 1-99'
check OIE_ZONE_SIZE "$OIE_ZONE_SIZE" '[0-9]+[kKmMgG]?' 'a size such as 64m'
check OIE_SPOOL_MAX "$OIE_SPOOL_MAX" '[0-9]+[kKmMgG]?' 'a size such as 10g'
check_list OIE_ALLOWED_ORIGINS "$OIE_ALLOWED_ORIGINS" \
    '\*|https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?' 'origins such as https://example.com'
check_list OIE_REAL_IP_FROM "$OIE_REAL_IP_FROM" \
    '[0-9A-Fa-f:.]+(/[0-9]{1,3})?' 'addresses or CIDR blocks'
check_list OIE_STATUS_ALLOW "$OIE_STATUS_ALLOW" \
    '[0-9A-Fa-f:.]+(/[0-9]{1,3})?' 'addresses or CIDR blocks'
check OIE_REDIS "$OIE_REDIS" '[A-Za-z0-9._-]+:[0-9]{1,5}|unix:/[A-Za-z0-9._/-]+' \
    'host:port or unix:/path'
check OIE_FALLBACK_URL "$OIE_FALLBACK_URL" 'https?://[A-Za-z0-9._~:/?@!()*+,=%-]+' \
    'an http(s) URL without quotes, spaces, "#", "$", ";" or "&"'
check OIE_IP_ANONYMIZE "$OIE_IP_ANONYMIZE" 'on|off' '"on" or "off"'
check OIE_PERSONALIZE_FIELDS "$OIE_PERSONALIZE_FIELDS" '[A-Za-z0-9_]+(,[A-Za-z0-9_]+)*' \
    'field names separated by commas'

# the sink: BigQuery when a project is given, else NDJSON files
if [ -n "$OIE_BQ_PROJECT" ]; then
    check OIE_BQ_PROJECT "$OIE_BQ_PROJECT" '[a-z][a-z0-9.:-]{2,61}[a-z0-9]' \
        'a Google Cloud project id'
    check OIE_BQ_DATASET "$OIE_BQ_DATASET" '[A-Za-z0-9_]{1,1024}' \
        'a BigQuery dataset name (letters, digits, _)'
    if [ "$OIE_BQ_KEY" != metadata ]; then
        check OIE_BQ_KEY "$OIE_BQ_KEY" '/[A-Za-z0-9._/@+-]+' \
            'an absolute path to a service-account key, or "metadata"'
        [ -f "$OIE_BQ_KEY" ] || die "OIE_BQ_KEY: no file $OIE_BQ_KEY" \
            "(mount the service-account key there; see docker/README.md)"
        [ -r "$OIE_BQ_KEY" ] || die "OIE_BQ_KEY: $OIE_BQ_KEY is not readable" \
            "by uid $(id -u); on the host: chown $(id -u) <key file>"
    fi
    sink="oie_sink bigquery project=$OIE_BQ_PROJECT dataset=$OIE_BQ_DATASET"
    sink="$sink credentials=$OIE_BQ_KEY"
    if [ -n "$OIE_BQ_ENDPOINT" ]; then
        check OIE_BQ_ENDPOINT "$OIE_BQ_ENDPOINT" 'https?://[A-Za-z0-9._:/-]+' \
            'an http(s) URL'
        sink="$sink endpoint=$OIE_BQ_ENDPOINT"
    fi
    sink="$sink; oie_spool $OIE_DATA/spool max_size=$OIE_SPOOL_MAX;"
    what="BigQuery $OIE_BQ_PROJECT.$OIE_BQ_DATASET, spool $OIE_DATA/spool"
else
    sink="oie_sink file $OIE_DATA/events;"
    what="NDJSON files in $OIE_DATA/events (set OIE_BQ_PROJECT for BigQuery)"
fi

secret=
if [ -n "$OIE_LINK_SECRET" ]; then
    check OIE_LINK_SECRET "$OIE_LINK_SECRET" '/[A-Za-z0-9._/@+-]+' \
        'an absolute path to the file of the link-signing secret'
    [ -r "$OIE_LINK_SECRET" ] || die "OIE_LINK_SECRET: cannot read" \
        "$OIE_LINK_SECRET as uid $(id -u)"
    secret="oie_secret $OIE_LINK_SECRET;"
fi

origins=
if [ -n "$OIE_ALLOWED_ORIGINS" ]; then
    origins="oie_allowed_origins $(echo $OIE_ALLOWED_ORIGINS);"
fi

real_ip=
if [ -n "$OIE_REAL_IP_FROM" ]; then
    for a in $OIE_REAL_IP_FROM; do
        real_ip="${real_ip}set_real_ip_from $a; "
    done
    real_ip="${real_ip}real_ip_header X-Forwarded-For; real_ip_recursive on;"
fi

status_allow=
for a in $OIE_STATUS_ALLOW; do
    status_allow="${status_allow}allow $a; "
done

[ -r "$OIE_TEMPLATE" ] || die "no template $OIE_TEMPLATE"
mkdir -p "$OIE_DATA/tmp" "$(dirname "$OIE_CONF")"

# values are checked above: none holds "|", "&", "\" or a newline
sed -e "s|@@OIE_HOME@@|$OIE_HOME|g" \
    -e "s|@@OIE_DATA@@|$OIE_DATA|g" \
    -e "s|@@OIE_PORT@@|$OIE_PORT|g" \
    -e "s|@@OIE_SERVER_NAME@@|$OIE_SERVER_NAME|g" \
    -e "s|@@OIE_WORKERS@@|$OIE_WORKERS|g" \
    -e "s|@@OIE_ZONE_SIZE@@|$OIE_ZONE_SIZE|g" \
    -e "s|@@OIE_SINK@@|$sink|g" \
    -e "s|@@OIE_ORIGINS@@|$origins|g" \
    -e "s|@@OIE_SECRET@@|$secret|g" \
    -e "s|@@OIE_REAL_IP@@|$real_ip|g" \
    -e "s|@@OIE_STATUS_ALLOW@@|$status_allow|g" \
    -e "s|@@OIE_REDIS@@|$OIE_REDIS|g" \
    -e "s|@@OIE_FALLBACK_URL@@|$OIE_FALLBACK_URL|g" \
    -e "s|@@OIE_PERSONALIZE_FIELDS@@|$OIE_PERSONALIZE_FIELDS|g" \
    -e "s|@@OIE_IP_ANONYMIZE@@|$OIE_IP_ANONYMIZE|g" \
    "$OIE_TEMPLATE" > "$OIE_CONF.tmp"

if grep -q '@@OIE_[A-Z_]*@@' "$OIE_CONF.tmp"; then
    rm -f "$OIE_CONF.tmp"
    die "$OIE_TEMPLATE names a value this script does not know:" \
        "$(grep -o '@@OIE_[A-Z_]*@@' "$OIE_TEMPLATE" | sort -u | tr '\n' ' ')"
fi
mv "$OIE_CONF.tmp" "$OIE_CONF"

echo "oie-entrypoint: port $OIE_PORT, rows to $what" >&2

if [ "$#" -eq 0 ] || { [ "$#" -eq 1 ] && [ "$1" = nginx ]; }; then
    set -- nginx -p "$OIE_HOME/" -c "$OIE_CONF"
fi
exec "$@"
