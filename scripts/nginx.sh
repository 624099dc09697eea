#!/usr/bin/env bash
# scripts/nginx.sh: the load balancer in front of the API (nginx, Debian's package).
#
#   scripts/nginx.sh bin                       print the nginx binary, installing it first
#                                              (as root, with apt-get) when it is missing
#   scripts/nginx.sh render DIR LISTEN UPSTREAM
#                                              write DIR/nginx.conf from ops/nginx.conf.in:
#                                              listen on LISTEN (127.0.0.1:8000), proxy to
#                                              UPSTREAM (unix:/path/gunicorn.sock, or
#                                              api:8000); every file nginx writes stays
#                                              under DIR/nginx
#   scripts/nginx.sh serve DIR LISTEN UPSTREAM render, then run nginx in the foreground
#
# The machine's own nginx service is never started or used: ours runs in the
# foreground under supervisord (make run) or the test fixtures, with its own config.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
say() { printf 'nginx: %s\n' "$*" >&2; }
# shellcheck source=scripts/apt-quiet.sh
. "$ROOT/scripts/apt-quiet.sh"

find_nginx() {
    command -v nginx 2>/dev/null || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; }
}

install_nginx() {
    apt_install_quietly nginx nginx-light
}

cmd_bin() {
    find_nginx || { install_nginx && find_nginx; }
}

cmd_render() {
    local dir=$1 listen=$2 upstream=$3 user_line=
    mkdir -p "$dir/nginx"
    # As root, nginx's workers would switch to an unprivileged user that cannot reach
    # the socket under this folder; a development server keeps the caller's user.
    ((EUID == 0)) && user_line="user root;"
    sed -e "s|@DIR@|$dir/nginx|g" -e "s|@LISTEN@|$listen|g" -e "s|@UPSTREAM@|$upstream|g" \
        -e "s|@USER@|$user_line|g" "$ROOT/ops/nginx.conf.in" >"$dir/nginx.conf"
}

# A master that was killed (SIGKILL, OOM) leaves its workers running, still holding the
# port, so a new master could not bind it. They are in the old master's process group,
# whose id is the pid in our own pid file: end that group, if what is left of it is nginx.
group_commands() { # the distinct command names of the processes in process group $1
    ps -e -o pgid=,comm= | awk -v g="$1" '$1 == g { print $2 }' | sort -u
}

stop_leftovers() {
    local pidfile=$1/nginx/nginx.pid pgid left
    [[ -s $pidfile ]] || return 0
    pgid=$(<"$pidfile")
    left=$(group_commands "$pgid")
    [[ -n $left ]] || return 0
    if [[ $left != nginx ]]; then
        say "process group $pgid of $pidfile is not nginx's alone ($(echo $left)); left as it is"
        return 0
    fi
    say "stopping the workers left by an nginx master that died (process group $pgid)"
    kill -TERM -- "-$pgid" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        [[ -n $(group_commands "$pgid") ]] || return 0
        sleep 0.2
    done
    kill -KILL -- "-$pgid" 2>/dev/null || true
}

cmd_serve() {
    cmd_render "$@"
    stop_leftovers "$1"
    exec "$(cmd_bin)" -c "$1/nginx.conf" -p "$1/nginx" -g "daemon off;"
}

case ${1:-} in
bin) cmd_bin ;;
render) shift && cmd_render "$@" ;;
serve) shift && cmd_serve "$@" ;;
*)
    sed -n '2,14p' "$0" >&2
    exit 2
    ;;
esac
