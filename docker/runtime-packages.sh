#!/bin/sh
# Prints, one a line, the Debian packages that hold the given files and
# every shared library they load: what the runtime stage of docker/Dockerfile
# installs.  It runs in the build stage, after scripts/install-deps.sh and
# make, so no second list of packages has to be kept by hand.  (Names only:
# both stages install from the same archive, and a pinned version would
# break the build once a security update replaces it there.)
#
#   docker/runtime-packages.sh FILE...
#
# An absolute FILE must belong to a package; a relative one (build/oie) is
# a file of the build, copied into the image: only its libraries count.
set -eu

die() {
    echo "runtime-packages: $*" >&2
    exit 1
}

[ "$#" -gt 0 ] || { echo "usage: $0 FILE..." >&2; exit 64; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# the files that need a package, each with the file that needs it
for f in "$@"; do
    [ -e "$f" ] || die "no file $f"
    case $f in
        /*) printf '%s %s\n' "$f" "$f" >> "$tmp/need" ;;
    esac
    ldd "$f" 2>/dev/null \
        | sed -n -e 's/.*=> \(\/[^ ]*\) .*/\1/p' \
                 -e 's/^[[:space:]]*\(\/[^ ]*\) .*/\1/p' \
        | while read -r lib; do
              printf '%s %s\n' "$lib" "$f"
          done >> "$tmp/need" || true
done

# dpkg tells /usr/lib/x/libfoo.so.1 and /lib/x/libfoo.so.1 apart (usrmerge):
# ask for each path, its twin and the file it links to, all in one query
# (each query reads the whole package database)
while read -r path by; do
    case $path in
        /usr/*) twin=${path#/usr} ;;
        *)      twin=/usr$path ;;
    esac
    printf '%s\n%s\n%s\n' "$path" "$twin" "$(readlink -f "$path")"
done < "$tmp/need" | sort -u > "$tmp/ask"

# "pkg[:arch][, pkg2]: /path"; paths no package has are simply not there
xargs dpkg-query -S < "$tmp/ask" > "$tmp/owners" 2>/dev/null || true

while read -r path by; do
    case $path in
        /usr/*) twin=${path#/usr} ;;
        *)      twin=/usr$path ;;
    esac
    found=
    for p in "$path" "$twin" "$(readlink -f "$path")"; do
        found=$(awk -v p="$p" '
            /^diversion / { next }
            { i = index($0, ": ") }
            i && substr($0, i + 2) == p {
                pkg = substr($0, 1, i - 1); sub(/[,:].*/, "", pkg)
                print pkg; exit
            }' "$tmp/owners")
        [ -z "$found" ] || break
    done
    if [ -z "$found" ]; then
        if [ "$path" = "$by" ]; then
            die "no package has $path"
        fi
        die "no package has $path (needed by $by)"
    fi
    echo "$found" >> "$tmp/packages"
done < "$tmp/need"

sort -u "$tmp/packages"
