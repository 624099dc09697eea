#!/usr/bin/env bash
# scripts/promtool.sh: print the path of a promtool binary (Prometheus's rule and config
# checker), installing Debian's `prometheus` package first (as root, with apt-get) when
# there is none. The tests (tests/unit/test_alert_rules.py) use it to check
# ops/prometheus/; by hand:
#
#   "$(scripts/promtool.sh)" check rules ops/prometheus/alerts.yml
#   cd ops/prometheus && "$(../../scripts/promtool.sh)" test rules alerts_test.yml
#
# PROMTOOL=/path/to/promtool, when set, is used as it is. Only promtool is wanted: the
# package's Prometheus server is never started (a policy-rc.d refuses it during the
# install, and nothing here starts it afterwards).
set -euo pipefail

say() { printf 'promtool: %s\n' "$*" >&2; }

find_promtool() {
    if [[ -n ${PROMTOOL:-} ]]; then
        [[ -x $PROMTOOL ]] && echo "$PROMTOOL" && return 0
        say "error: PROMTOOL=$PROMTOOL is not an executable"
        exit 1
    fi
    command -v promtool 2>/dev/null || { [[ -x /usr/bin/promtool ]] && echo /usr/bin/promtool; }
}

install_promtool() {
    if ((EUID != 0)) || ! command -v apt-get >/dev/null; then
        say "error: promtool is not installed (apt-get install --no-install-recommends prometheus, as root)"
        exit 1
    fi
    say "installing prometheus with apt-get, for its promtool (its server is not started)"
    local policy=/usr/sbin/policy-rc.d made=
    if [[ ! -e $policy ]]; then # keep the package's postinst from starting a server on :9090
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    local rc=0 out
    out=$(mktemp)
    # Another apt-get may be running (scripts/nginx.sh, services.sh): wait for its locks.
    {
        apt-get update -q -o DPkg::Lock::Timeout=300 &&
            apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 prometheus
    } </dev/null >"$out" 2>&1 || rc=$?
    [[ -n $made ]] && rm -f "$policy"
    if ((rc != 0)); then
        sed 's/^/promtool:   | /' "$out" >&2
        rm -f "$out"
        exit "$rc"
    fi
    rm -f "$out"
}

# Two callers at once (parallel test runs) install once: the second waits for the first.
with_lock() {
    if command -v flock >/dev/null; then
        exec 9>"${TMPDIR:-/tmp}/rail-promtool.lock"
        flock 9
    fi
    "$@"
}

locked_install() {
    find_promtool >/dev/null || install_promtool
}

case ${1:-} in
"" | bin)
    find_promtool || { with_lock locked_install && find_promtool; }
    ;;
*)
    sed -n '2,12p' "$0" >&2
    exit 2
    ;;
esac
