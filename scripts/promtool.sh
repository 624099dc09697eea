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
# shellcheck source=scripts/apt-quiet.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/apt-quiet.sh"

find_promtool() {
    if [[ -n ${PROMTOOL:-} ]]; then
        [[ -x $PROMTOOL ]] && echo "$PROMTOOL" && return 0
        say "error: PROMTOOL=$PROMTOOL is not an executable"
        exit 1
    fi
    command -v promtool 2>/dev/null || { [[ -x /usr/bin/promtool ]] && echo /usr/bin/promtool; }
}

install_promtool() {
    apt_install_quietly promtool prometheus
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
