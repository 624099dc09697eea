# shellcheck shell=bash
# scripts/apt-quiet.sh, sourced by nginx.sh and promtool.sh: install Debian packages
# for a tool we run ourselves, never starting the service they come with.
#
#   apt_install_quietly NAME PACKAGE...   as root with apt-get, else exit 1 saying how;
#                                         apt-get's output is shown only if it fails,
#                                         each line prefixed with "NAME:   | "
#
# A policy-rc.d refusing every service start is put in place for the install (and
# removed after, if we made it), so a package's postinst never binds :80 or :9090.
# Another apt-get at work (services.sh, a parallel test run) is waited for.

apt_install_quietly() {
    local name=$1
    shift
    if ((EUID != 0)) || ! command -v apt-get >/dev/null; then
        printf '%s: error: not installed (apt-get install --no-install-recommends %s, as root)\n' \
            "$name" "$*" >&2
        exit 1
    fi
    printf '%s: installing %s with apt-get (no service is started)\n' "$name" "$*" >&2
    local policy=/usr/sbin/policy-rc.d made="" rc=0 out
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made=1
    fi
    out=$(mktemp)
    {
        DEBIAN_FRONTEND=noninteractive apt-get update -q -o DPkg::Lock::Timeout=300 &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
                -o DPkg::Lock::Timeout=300 "$@"
    } </dev/null >"$out" 2>&1 || rc=$?
    [[ -n $made ]] && rm -f "$policy"
    if ((rc != 0)); then
        sed "s/^/$name:   | /" "$out" >&2
        rm -f "$out"
        exit "$rc"
    fi
    rm -f "$out"
}
