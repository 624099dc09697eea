#!/usr/bin/env bash
# scripts/services.sh: make sure PostgreSQL and Redis are reachable, then print
# the settings that point at them, for the caller to eval:
#
#   eval "$(scripts/services.sh)"                       # DATABASE_URL / REDIS_URL
#   eval "$(scripts/services.sh --db rail_test --redis-db 15)"   # what `make test` uses
#     (--db NAME / --redis-db N: the chosen server, another database; NAME is created too)
#   scripts/services.sh status    # what answers where
#   scripts/services.sh stop      # stop the private instances (only those) started here
#   scripts/services.sh purge     # stop them and delete their data
#
# For each of the two services the first choice that works is taken:
#   1. DATABASE_URL / REDIS_URL set in the environment: used as is (waited for).
#      If we cannot log in there, that is an error (no fallback: you asked for it).
#   2. A server already answering on the default local port
#      (127.0.0.1:5432 as user postgres / 127.0.0.1:6379), if it lets us in.
#   3. Our private instance, if an earlier run started it (127.0.0.1:54329 / :63799).
#   4. The machine's own service, started with the machine's own command
#      (pg_ctlcluster ... main start / redis-server --daemonize ...), where they exist,
#      if nothing answered on the default port and once started it lets us in
#      (a machine cluster we started but cannot use is stopped again).
#   5. A new private instance from the installed binaries, its data under .run/
#      (as root with apt-get, missing binaries are installed first).
# RAIL_PRIVATE_SERVICES=1 skips 2 and 4: private instances whatever the machine runs.
# Then the database named in the URL (or by --db) is created if it is missing.
#
# "Lets us in" means a real login, never a password prompt: psql -w (PGCONNECT_TIMEOUT,
# stdin closed) runs `select 1` as user postgres, and Redis answers PING with PONG.
# A server that wants a password we don't have (Debian's own PostgreSQL: peer auth
# on the socket, a password over TCP; a Redis with requirepass) is passed over, and
# stderr says why, e.g.
#   services: PostgreSQL: 127.0.0.1:5432 refused our login (password authentication
#   failed); using the private instance on 127.0.0.1:54329
# The private instances have ports of their own, never the default ones.
#
# Only the `export` lines go to stdout; every diagnostic goes to stderr.
#
# Environment knobs (all optional):
#   RAIL_PRIVATE_SERVICES=1   always use private instances (unless the URL vars are set)
#   RAIL_PG_PORT=54329        port of the private PostgreSQL
#   RAIL_REDIS_PORT=63799     port of the private Redis
#   RAIL_SYSTEM_PG_PORT=5432  the "default local port" of PostgreSQL, tried in 2 and 4
#   RAIL_SYSTEM_REDIS_PORT=6379   the "default local port" of Redis, tried in 2 and 4
#   RAIL_MACHINE_SERVICES=0   never start the machine's own services (skips 4)
#   RAIL_RUN_DIR=<repo>/.run  where the private instances keep their data, logs and lock
#                             (the same folder `make run` gives supervisord)
#   RAIL_SERVICES_WAIT=15     seconds to wait for a server to answer
#   RAIL_SERVICES_VERBOSE=1   show the output of initdb, pg_ctl, apt-get... even on success
#   PGCONNECT_TIMEOUT=5       seconds a login attempt may take (libpq's own variable)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN=${RAIL_RUN_DIR:-$ROOT/.run}
[[ $RUN == /* ]] || RUN=$PWD/$RUN
DEFAULT_DB=rail
PG_PRIVATE_PORT=${RAIL_PG_PORT:-54329}
REDIS_PRIVATE_PORT=${RAIL_REDIS_PORT:-63799}
PG_SYSTEM_PORT=${RAIL_SYSTEM_PG_PORT:-5432}
REDIS_SYSTEM_PORT=${RAIL_SYSTEM_REDIS_PORT:-6379}
WAIT=${RAIL_SERVICES_WAIT:-15}
PRIVATE=${RAIL_PRIVATE_SERVICES:-0}
MACHINE=${RAIL_MACHINE_SERVICES:-1}
# libpq gives up on a connection after this many seconds (psql, psycopg).
export PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-5}

say() { printf 'services: %s\n' "$*" >&2; }
die() {
    say "error: $*"
    exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }
truthy() { [[ $1 == 1 || $1 == true || $1 == yes ]]; }
private_mode() { truthy "$PRIVATE"; }
machine_mode() { ! private_mode && ! [[ $MACHINE == 0 || $MACHINE == false || $MACHINE == no ]]; }

# Single-quote a value for the shell that evals our output.
shquote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
emit() { printf 'export %s=%s\n' "$1" "$(shquote "$2")"; }

# Run "$@" every 0.2 s until it succeeds or $1 seconds have passed.
wait_until() {
    local seconds=$1 tries
    shift
    tries=$((seconds * 5 + 1))
    while ((tries-- > 0)); do
        "$@" && return 0
        sleep 0.2
    done
    return 1
}

# Run a command that may leave a daemon behind: no stdin, its output to a file
# (not to our pipes, which a daemon would otherwise keep open), our lock fd
# closed. The output is copied to stderr if it fails (always with RAIL_SERVICES_VERBOSE=1).
run_detached() {
    local out rc=0
    out=$(mktemp)
    "$@" </dev/null >"$out" 2>&1 9>&- || rc=$?
    if ((rc != 0)) || [[ ${RAIL_SERVICES_VERBOSE:-0} == 1 ]]; then
        sed 's/^/services:   | /' "$out" >&2
    fi
    rm -f "$out"
    return "$rc"
}

# Serialize starts, so that two `make` runs at once don't both start instances.
LOCKED=
take_lock() {
    [[ -n $LOCKED ]] && return 0
    mkdir -p "$RUN"
    exec 9>"$RUN/services.lock"
    if have flock; then flock -w 120 9 || die "could not lock $RUN/services.lock"; fi
    LOCKED=1
}

# ---------------------------------------------------------------- URLs

# parse_url URL: sets U_SCHEME, U_USERINFO, U_HOSTPORT, U_PATH (no leading /), U_QUERY (with ?).
parse_url() {
    local re='^([A-Za-z][A-Za-z0-9+.-]*)://(([^@/?#]*)@)?([^/?#]*)(/([^?#]*))?(\?[^#]*)?$'
    [[ $1 =~ $re ]] || return 1
    U_SCHEME=${BASH_REMATCH[1]}
    U_USERINFO=${BASH_REMATCH[3]}
    U_HOSTPORT=${BASH_REMATCH[4]}
    U_PATH=${BASH_REMATCH[6]}
    U_QUERY=${BASH_REMATCH[7]}
}

# host_port DEFAULT_PORT: splits U_HOSTPORT into U_HOST / U_PORT ([v6]:port aware).
host_port() {
    local hp=$U_HOSTPORT
    if [[ $hp == \[*\]* ]]; then
        U_HOST=${hp#\[}
        U_HOST=${U_HOST%%\]*}
        hp=${hp#*\]}
        U_PORT=${hp#:}
    elif [[ $hp == *:* ]]; then
        U_HOST=${hp%:*}
        U_PORT=${hp##*:}
    else
        U_HOST=$hp
        U_PORT=
    fi
    U_HOST=${U_HOST:-127.0.0.1}
    U_PORT=${U_PORT:-$1}
}

build_url() { # scheme path -> URL from the other U_* parts
    printf '%s://%s%s/%s%s' "$1" "${U_USERINFO:+$U_USERINFO@}" "$U_HOSTPORT" "$2" "$U_QUERY"
}

# Where a URL points, for messages (never its password): host:port, or a socket path.
url_where() { # URL DEFAULT_PORT
    parse_url "$1" || {
        printf 'an unparsable URL'
        return 0
    }
    if [[ $U_SCHEME == unix ]]; then
        printf '%s' "/${U_PATH#/}"
    elif [[ -z $U_HOSTPORT ]]; then
        printf 'the local socket'
    else
        host_port "$2"
        printf '%s:%s' "$U_HOST" "$U_PORT"
    fi
}

# The same URL with another database name.
with_db() {
    parse_url "$1" || die "cannot parse database URL: $1"
    build_url "$U_SCHEME" "$2"
}

url_db() {
    parse_url "$1" || die "cannot parse database URL: $1"
    printf '%s' "$U_PATH"
}

# What libpq (psql, pg_isready) understands: postgresql+psycopg:// -> postgresql://
libpq_url() {
    parse_url "$1" || die "cannot parse database URL: $1"
    build_url postgresql "$U_PATH"
}

# The same Redis URL with another logical database number.
with_redis_db() {
    parse_url "$1" || die "cannot parse Redis URL: $1"
    case $U_SCHEME in
    redis | rediss) build_url "$U_SCHEME" "$2" ;;
    *) die "cannot choose a Redis database in a $U_SCHEME:// URL; set REDIS_URL yourself" ;;
    esac
}

# ---------------------------------------------------------------- probes

tcp_open() { # host port
    # shellcheck disable=SC2016 # $0 and $1 belong to the inner bash
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

pg_up() { # libpq URL
    if have pg_isready; then
        pg_isready -q -t 2 -d "$1" 2>/dev/null
    else
        parse_url "$1" || return 1
        host_port 5432
        tcp_open "$U_HOST" "$U_PORT"
    fi
}

# pg_login URL: can we log in there and run `select 1`? Never asks for a password:
# psql -w, stdin closed, PGCONNECT_TIMEOUT (a password from the URL, PGPASSWORD or
# ~/.pgpass is used, as libpq does). A missing database is no failure (we create
# it): then the maintenance databases are tried. On failure PG_LOGIN_ERROR says why.
PG_LOGIN_ERROR=
PG_LOGIN_PY='
import sys

import psycopg

for url in sys.argv[1:]:
    try:
        psycopg.connect(url).close()  # PGCONNECT_TIMEOUT applies
        sys.exit(0)
    except psycopg.OperationalError as e:
        if "does not exist" not in str(e) or url == sys.argv[-1]:
            sys.exit(str(e).strip())
'
pg_login() {
    local url=$1 err="" db py
    PG_LOGIN_ERROR=
    find_pg_bin || true # psql from the server's bin folder if it is not on PATH
    if have psql; then
        for db in "" postgres template1; do
            [[ -z $db ]] || url=$(with_db "$1" "$db")
            err=$(psql -X -w -q -A -t -d "$url" -c 'select 1' </dev/null 2>&1 >/dev/null) && return 0
            [[ $err == *"database \""*"\" does not exist"* ]] || break
        done
    else
        # No psql: psycopg from the project's virtualenv (or the system Python).
        for py in "$ROOT/.venv/bin/python" python3; do
            "$py" -c 'import psycopg' >/dev/null 2>&1 || continue
            err=$("$py" -c "$PG_LOGIN_PY" "$url" "$(with_db "$url" postgres)" </dev/null 2>&1) && return 0
            break
        done
        # Neither: all we can tell is whether it answers.
        if [[ -z $err ]]; then
            pg_up "$url" && return 0
            err="no answer"
        fi
    fi
    PG_LOGIN_ERROR=$(pg_reason "$err")
    return 1
}

# The gist of a libpq error, on one line: "password authentication failed for user ...".
pg_reason() {
    local reason
    reason=$(printf '%s\n' "$1" | sed -E \
        -e 's/^psql: error: //' -e 's/^connection failed: //' \
        -e 's/^connection to server at "[^"]*"( \([^)]*\))?, port [0-9]+ failed: //' \
        -e 's/^connection to server on socket "[^"]*" failed: //' \
        -e 's/^(FATAL|ERROR): +//' | grep -v -e '^[[:space:]]' -e '^$' | tail -n 1 || true)
    case $reason in
    *"no password supplied"*) reason="it wants a password: $reason" ;;
    "") reason="no answer" ;;
    esac
    printf '%s' "$reason"
}

redis_ping() { # host port: a Redis answers there (one that wants a password counts: the port is taken)
    # shellcheck disable=SC2016 # $0, $1, $reply belong to the inner bash
    timeout 2 bash -c '
        exec 3<>"/dev/tcp/$0/$1" || exit 1
        printf "PING\r\n" >&3
        IFS= read -r -t 2 reply <&3 || exit 1
        case $reply in
        +PONG* | -NOAUTH* | -WRONGPASS* | -NOPERM* | *uthentication*) exit 0 ;;
        *) exit 1 ;;
        esac' "$1" "$2" 2>/dev/null
}

# redis_login HOST PORT [USER] [PASSWORD]: can we use that Redis, i.e. does PING
# get PONG (after AUTH when a password is given)? On failure REDIS_LOGIN_ERROR
# says why (the server's answer: NOAUTH, WRONGPASS, NOPERM...).
REDIS_LOGIN_ERROR=
redis_login() {
    local reply
    # shellcheck disable=SC2016 # $0...$3, $reply, $auth, $arg belong to the inner bash
    reply=$(LC_ALL=C timeout 3 bash -c '
        exec 3<>"/dev/tcp/$0/$1" || exit 1
        if [[ -n $3 ]]; then # AUTH [user] password, as a RESP array (any byte allowed)
            auth=(AUTH ${2:+"$2"} "$3")
            printf "*%d\r\n" "${#auth[@]}" >&3
            for arg in "${auth[@]}"; do printf "\$%d\r\n%s\r\n" "${#arg}" "$arg" >&3; done
            IFS= read -r -t 2 reply <&3 || exit 1
            [[ $reply == +OK* ]] || { printf "%s" "${reply//[[:cntrl:]]/}"; exit 1; }
        fi
        printf "PING\r\n" >&3
        IFS= read -r -t 2 reply <&3 || exit 1
        printf "%s" "${reply//[[:cntrl:]]/}"' "$1" "$2" "${3:-}" "${4:-}" 2>/dev/null) || true
    REDIS_LOGIN_ERROR=
    [[ $reply == +PONG* ]] && return 0
    reply=${reply#[-+]}
    REDIS_LOGIN_ERROR=${reply:-no answer}
    return 1
}

# Percent-decoding, for the user and password in a URL.
url_decode() {
    local s=${1//\\/\\\\}
    printf '%b' "${s//%/\\x}"
}

# redis_url_login URL: redis_login on a redis:// URL, with its user and password.
# (rediss:// and unix:// cannot be checked from bash: those count as usable.)
redis_url_login() {
    parse_url "$1" || return 1
    [[ $U_SCHEME == redis ]] || return 0
    host_port 6379
    local user="" pass=""
    if [[ $U_USERINFO == *:* ]]; then
        user=$(url_decode "${U_USERINFO%%:*}")
        pass=$(url_decode "${U_USERINFO#*:}")
    fi
    redis_login "$U_HOST" "$U_PORT" "$user" "$pass"
}

redis_up() { # URL
    parse_url "$1" || return 1
    case $U_SCHEME in
    unix) [[ -S ${1#unix://} || -S ${U_PATH:+/$U_PATH} ]] ;;
    rediss)
        host_port 6379
        tcp_open "$U_HOST" "$U_PORT"
        ;;
    *)
        host_port 6379
        redis_ping "$U_HOST" "$U_PORT"
        ;;
    esac
}

# ---------------------------------------------------------------- binaries

# PG_BIN: the server binaries (initdb, pg_ctl, postgres), newest version first.
find_pg_bin() {
    local dir
    # shellcheck disable=SC2012 # fixed paths; sort -V orders 9 before 15
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -n $dir && -x $dir/postgres ]]; then
        PG_BIN=$dir
    elif have postgres && have initdb && have pg_ctl; then
        PG_BIN=$(dirname "$(command -v pg_ctl)")
    else
        PG_BIN=
        return 1
    fi
    # Client tools (psql, pg_isready) from there too when not on PATH.
    PATH=$PATH:$PG_BIN
}

apt_install() {
    ((EUID == 0)) && have apt-get || return 1
    say "installing $* with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    run_detached apt-get update -q && run_detached apt-get install -y -q "$@"
}

need_pg_bin() {
    find_pg_bin && return 0
    apt_install postgresql && find_pg_bin && return 0
    die "no PostgreSQL server binaries (initdb, pg_ctl, postgres): install PostgreSQL or set DATABASE_URL"
}

need_redis_bin() {
    have redis-server && return 0
    apt_install redis-server && have redis-server && return 0
    die "no redis-server binary: install Redis or set REDIS_URL"
}

# ---------------------------------------------------------------- PostgreSQL

# As root, initdb and postgres must run as an unprivileged user.
pg_os_user() {
    if id -u postgres >/dev/null 2>&1; then echo postgres; else echo nobody; fi
}

as_pg_user() {
    if ((EUID != 0)); then
        (cd / && "$@")
    elif have runuser; then
        (cd / && runuser -u "$(pg_os_user)" -- "$@")
    else
        (cd / && su -s /bin/sh "$(pg_os_user)" -c "$(printf '%q ' "$@")")
    fi
}

# The private instance lives in .run/pg/{data,sock}. If the unprivileged user
# cannot reach the repository (a 0700 home, say) or the path is too long for a
# unix socket, it lives in /tmp instead and .run/pg is a symlink to it.
pg_private_base() { # prints the base folder, creating it when asked (arg "create")
    if [[ -L $RUN/pg || -d $RUN/pg ]]; then
        readlink -f "$RUN/pg"
        return 0
    fi
    [[ ${1:-} == create ]] || return 1
    local base=$RUN/pg user
    mkdir -p "$base"
    if ((EUID == 0)); then
        user=$(pg_os_user)
        chown "$user:" "$base"
        if ((${#base} > 80)) || ! runuser -u "$user" -- test -w "$base" 2>/dev/null; then
            rmdir "$base"
            base=$(mktemp -d "${TMPDIR:-/tmp}/rail-pg.XXXXXX")
            chown "$user:" "$base"
            ln -s "$base" "$RUN/pg"
        fi
    elif ((${#base} > 80)); then
        rmdir "$base"
        base=$(mktemp -d "${TMPDIR:-/tmp}/rail-pg.XXXXXX")
        ln -s "$base" "$RUN/pg"
    fi
    printf '%s' "$base"
}

pg_private_running() {
    local base
    base=$(pg_private_base) || return 1
    [[ -f $base/data/postmaster.pid ]] && pg_login "postgresql://postgres@127.0.0.1:$PG_PRIVATE_PORT/postgres"
}

start_private_postgres() {
    need_pg_bin
    local base data
    base=$(pg_private_base create)
    data=$base/data
    if [[ ! -s $data/PG_VERSION ]]; then
        say "PostgreSQL: creating a private cluster in $data"
        as_pg_user mkdir -p "$data" "$base/sock"
        run_detached as_pg_user "$PG_BIN/initdb" -D "$data" -U postgres -A trust -E UTF8 --no-locale --no-sync ||
            die "initdb failed"
        echo "include_if_exists = 'rail-private.conf'" | as_pg_user tee -a "$data/postgresql.conf" >/dev/null
    fi
    # Rewritten at every start, so RAIL_PG_PORT can change.
    as_pg_user tee "$data/rail-private.conf" >/dev/null <<EOF
# Written by scripts/services.sh: a throwaway development/test instance.
listen_addresses = '127.0.0.1'
port = $PG_PRIVATE_PORT
unix_socket_directories = '$base/sock'
fsync = off
EOF
    local action=start
    if as_pg_user "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        # Running, yet it did not answer: started with another RAIL_PG_PORT, or stuck.
        action=restart
    elif tcp_open 127.0.0.1 "$PG_PRIVATE_PORT"; then
        die "127.0.0.1:$PG_PRIVATE_PORT is taken by another server; set RAIL_PG_PORT to a free port for the private PostgreSQL"
    fi
    say "PostgreSQL: ${action}ing a private instance on 127.0.0.1:$PG_PRIVATE_PORT (log: $base/postgres.log)"
    run_detached as_pg_user "$PG_BIN/pg_ctl" -D "$data" -l "$base/postgres.log" -m fast -w -t "$WAIT" "$action" || {
        tail -n 20 "$base/postgres.log" >&2 || true
        die "the private PostgreSQL did not start"
    }
    wait_until "$WAIT" pg_up "postgresql://postgres@127.0.0.1:$PG_PRIVATE_PORT/postgres" ||
        die "the private PostgreSQL does not answer on 127.0.0.1:$PG_PRIVATE_PORT"
}

stop_private_postgres() {
    local base
    base=$(pg_private_base) || return 0
    [[ -f $base/data/postmaster.pid ]] || return 0
    find_pg_bin || die "cannot find pg_ctl to stop the private PostgreSQL in $base/data"
    say "PostgreSQL: stopping the private instance ($base/data)"
    run_detached as_pg_user "$PG_BIN/pg_ctl" -D "$base/data" -m fast -w -t 30 stop || true
}

# Starts the machine's own cluster (Debian's newest "main") when it is down and is
# configured for the default port (where we then look for it). MACHINE_PG is set
# when we started it, so that we can stop it again if it does not let us in.
MACHINE_PG=
start_machine_postgres() {
    have pg_ctlcluster && [[ -d /etc/postgresql ]] || return 1
    local version port
    # shellcheck disable=SC2012
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    [[ -n $version && -d /etc/postgresql/$version/main ]] || return 1
    ((EUID == 0)) || [[ -O /etc/postgresql/$version/main ]] || return 1
    port=$(sed -nE 's/^[[:space:]]*port[[:space:]]*=[[:space:]]*([0-9]+).*/\1/p' \
        "/etc/postgresql/$version/main/postgresql.conf" 2>/dev/null | tail -n 1 || true)
    [[ ${port:-5432} == "$PG_SYSTEM_PORT" ]] || return 1
    say "PostgreSQL: starting the machine's cluster (pg_ctlcluster $version main start)"
    run_detached pg_ctlcluster --skip-systemctl-redirect "$version" main start || return 1
    MACHINE_PG=$version
}

stop_machine_postgres() {
    [[ -n $MACHINE_PG ]] || return 0
    say "PostgreSQL: stopping the machine's cluster again (pg_ctlcluster $MACHINE_PG main stop)"
    run_detached pg_ctlcluster --skip-systemctl-redirect "$MACHINE_PG" main stop || true
    MACHINE_PG=
}

# Sets PG_URL to the chosen server's URL with the default database name.
resolve_postgres() {
    local system=127.0.0.1:$PG_SYSTEM_PORT private=127.0.0.1:$PG_PRIVATE_PORT
    local local_url="postgresql+psycopg://postgres@$system/$DEFAULT_DB"
    local private_url="postgresql+psycopg://postgres@$private/$DEFAULT_DB"
    local conn where why
    if [[ -n ${DATABASE_URL:-} ]]; then
        conn=$(libpq_url "$DATABASE_URL")
        where=$(url_where "$conn" 5432)
        wait_until "$WAIT" pg_up "$conn" ||
            die "DATABASE_URL is set, but no PostgreSQL answers at $where after ${WAIT}s"
        pg_login "$conn" ||
            die "DATABASE_URL is set, but $where refused our login ($PG_LOGIN_ERROR); put the password in the URL, PGPASSWORD or ~/.pgpass"
        PG_URL=$DATABASE_URL
        say "PostgreSQL: using DATABASE_URL from the environment ($where)"
        return
    fi
    [[ $PG_PRIVATE_PORT != "$PG_SYSTEM_PORT" ]] ||
        die "RAIL_PG_PORT ($PG_PRIVATE_PORT) must differ from RAIL_SYSTEM_PG_PORT: the private PostgreSQL has a port of its own"
    conn=$(libpq_url "$local_url")
    if private_mode; then
        why="RAIL_PRIVATE_SERVICES=$PRIVATE"
    elif ! pg_up "$conn"; then
        why="nothing answers on $system"
    elif pg_login "$conn"; then
        PG_URL=$local_url
        say "PostgreSQL: using the server on $system (it lets user postgres in)"
        return
    else
        why="$system refused our login ($PG_LOGIN_ERROR)"
    fi
    take_lock
    if pg_private_running; then
        PG_URL=$private_url
        say "PostgreSQL: $why; using the private instance on $private (already running)"
        return
    fi
    if [[ $why == "nothing answers"* ]] && machine_mode && start_machine_postgres; then
        if ! wait_until 10 pg_up "$conn"; then
            why="the machine's cluster, started, does not answer on $system"
        elif pg_login "$conn"; then
            PG_URL=$local_url
            say "PostgreSQL: using the machine's cluster on $system (started it; it lets user postgres in)"
            return
        else
            why="the machine's cluster on $system refused our login ($PG_LOGIN_ERROR)"
        fi
        stop_machine_postgres
    fi
    say "PostgreSQL: $why; using the private instance on $private"
    start_private_postgres
    PG_URL=$private_url
}

# Never a password prompt (-w): a server that wants one we don't have is an error.
psql_quiet() { psql -X -w -q -A -t -v ON_ERROR_STOP=1 "$@"; }

# Creates the database named in URL if it does not exist yet.
ensure_database() {
    local url=$1 db conn
    db=$(url_db "$url")
    [[ -n $db ]] || die "no database name in $url"
    conn=$(libpq_url "$url")
    find_pg_bin || true # psql from the server's bin folder if it is not on PATH
    if have psql; then
        psql_quiet -d "$conn" -c 'select 1' </dev/null >/dev/null 2>&1 && return 0
        say "PostgreSQL: creating database $db"
        local maint err=""
        for maint in postgres template1; do
            # \gexec: create it unless it exists (another run may have just done so).
            err=$(
                psql_quiet -d "$(libpq_url "$(with_db "$url" "$maint")")" -v db="$db" 2>&1 <<'SQL'
SELECT format('CREATE DATABASE %I', :'db')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SQL
            ) && break
        done
        psql_quiet -d "$conn" -c 'select 1' </dev/null >/dev/null 2>&1 ||
            die "cannot create or reach database $db: ${err:-unknown error}"
        return 0
    fi
    # No psql: psycopg from the project's virtualenv (or the system Python).
    local py
    for py in "$ROOT/.venv/bin/python" python3; do
        if "$py" -c 'import psycopg' >/dev/null 2>&1; then
            "$py" - "$conn" "$(libpq_url "$(with_db "$url" postgres)")" "$db" <<'PY' >&2 ||
import sys

import psycopg
from psycopg import sql

url, maint, db = sys.argv[1:]
try:
    psycopg.connect(url, connect_timeout=5).close()
    sys.exit(0)
except psycopg.OperationalError:
    pass
print(f"services: PostgreSQL: creating database {db}", file=sys.stderr)
with psycopg.connect(maint, autocommit=True, connect_timeout=5) as conn:
    if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone():
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
psycopg.connect(url, connect_timeout=5).close()
PY
                die "cannot create or reach database $db"
            return 0
        fi
    done
    die "neither psql nor psycopg is available to create database $db"
}

# ---------------------------------------------------------------- Redis

redis_private_pid() { # prints the pid of our private redis-server, if it runs
    local pid
    [[ -f $RUN/redis.pid ]] || return 1
    pid=$(<"$RUN/redis.pid")
    [[ $pid =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null |
        grep -q "redis-server" || return 1
    printf '%s' "$pid"
}

start_private_redis() {
    need_redis_bin
    mkdir -p "$RUN"
    # Ours, running, yet it did not answer: another RAIL_REDIS_PORT, or stuck.
    stop_private_redis
    ! tcp_open 127.0.0.1 "$REDIS_PRIVATE_PORT" ||
        die "127.0.0.1:$REDIS_PRIVATE_PORT is taken by another server; set RAIL_REDIS_PORT to a free port for the private Redis"
    say "Redis: starting a private instance on 127.0.0.1:$REDIS_PRIVATE_PORT (log: $RUN/redis.log)"
    run_detached redis-server --port "$REDIS_PRIVATE_PORT" --bind 127.0.0.1 --daemonize yes \
        --save "" --appendonly no --dir "$RUN" \
        --pidfile "$RUN/redis.pid" --logfile "$RUN/redis.log" ||
        die "the private Redis did not start (see $RUN/redis.log)"
    wait_until "$WAIT" redis_ping 127.0.0.1 "$REDIS_PRIVATE_PORT" ||
        die "the private Redis does not answer on 127.0.0.1:$REDIS_PRIVATE_PORT (see $RUN/redis.log)"
}

stop_private_redis() {
    local pid
    pid=$(redis_private_pid) || {
        rm -f "$RUN/redis.pid"
        return 0
    }
    say "Redis: stopping the private instance (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    wait_until 10 eval '! kill -0 '"$pid"' 2>/dev/null' || kill -KILL "$pid" 2>/dev/null || true
    rm -f "$RUN/redis.pid"
}

start_machine_redis() {
    have redis-server && [[ -w /var/lib/redis && -w /var/log/redis ]] || return 1
    say "Redis: starting the machine's server on 127.0.0.1:$REDIS_SYSTEM_PORT"
    run_detached redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_SYSTEM_PORT" --save "" \
        --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
}

# Sets REDIS_URL_CHOSEN to the chosen server's URL (database 0 unless the caller's URL says otherwise).
resolve_redis() {
    local system=127.0.0.1:$REDIS_SYSTEM_PORT private=127.0.0.1:$REDIS_PRIVATE_PORT
    local local_url=redis://$system/0 private_url=redis://$private/0
    local where why
    if [[ -n ${REDIS_URL:-} ]]; then
        where=$(url_where "$REDIS_URL" 6379)
        wait_until "$WAIT" redis_up "$REDIS_URL" ||
            die "REDIS_URL is set, but no Redis answers at $where after ${WAIT}s"
        redis_url_login "$REDIS_URL" ||
            die "REDIS_URL is set, but $where refused us ($REDIS_LOGIN_ERROR); put the password in the URL (redis://:PASSWORD@host:port/0)"
        REDIS_URL_CHOSEN=$REDIS_URL
        say "Redis: using REDIS_URL from the environment ($where)"
        return
    fi
    [[ $REDIS_PRIVATE_PORT != "$REDIS_SYSTEM_PORT" ]] ||
        die "RAIL_REDIS_PORT ($REDIS_PRIVATE_PORT) must differ from RAIL_SYSTEM_REDIS_PORT: the private Redis has a port of its own"
    if private_mode; then
        why="RAIL_PRIVATE_SERVICES=$PRIVATE"
    elif ! tcp_open 127.0.0.1 "$REDIS_SYSTEM_PORT"; then
        why="nothing answers on $system"
    elif redis_login 127.0.0.1 "$REDIS_SYSTEM_PORT"; then
        REDIS_URL_CHOSEN=$local_url
        say "Redis: using the server on $system (it answers PING without a password)"
        return
    else
        why="$system refused us ($REDIS_LOGIN_ERROR)"
    fi
    take_lock
    if redis_private_pid >/dev/null && redis_login 127.0.0.1 "$REDIS_PRIVATE_PORT"; then
        REDIS_URL_CHOSEN=$private_url
        say "Redis: $why; using the private instance on $private (already running)"
        return
    fi
    if [[ $why == "nothing answers"* ]] && machine_mode && start_machine_redis; then
        if ! wait_until 5 redis_ping 127.0.0.1 "$REDIS_SYSTEM_PORT"; then
            why="the machine's Redis, started, does not answer on $system"
        elif redis_login 127.0.0.1 "$REDIS_SYSTEM_PORT"; then
            REDIS_URL_CHOSEN=$local_url
            say "Redis: using the machine's server on $system (started it)"
            return
        else
            why="the machine's Redis on $system refused us ($REDIS_LOGIN_ERROR)"
        fi
    fi
    say "Redis: $why; using the private instance on $private"
    start_private_redis
    REDIS_URL_CHOSEN=$private_url
}

# ---------------------------------------------------------------- commands

cmd_up() {
    local db="" redis_db=""
    while (($#)); do
        case $1 in
        --db) db=${2:?--db needs a database name} && shift ;;
        --db=*) db=${1#--db=} ;;
        --redis-db) redis_db=${2:?--redis-db needs a number} && shift ;;
        --redis-db=*) redis_db=${1#--redis-db=} ;;
        *) die "unknown argument: $1 (see the top of $0)" ;;
        esac
        shift
    done
    [[ -z $redis_db || $redis_db =~ ^[0-9]+$ ]] || die "--redis-db wants a number, got $redis_db"

    resolve_postgres
    resolve_redis
    local db_url=$PG_URL redis_url=$REDIS_URL_CHOSEN
    [[ -n $db ]] && db_url=$(with_db "$PG_URL" "$db")
    [[ -n $redis_db ]] && redis_url=$(with_redis_db "$REDIS_URL_CHOSEN" "$redis_db")
    ensure_database "$db_url"
    emit DATABASE_URL "$db_url"
    emit REDIS_URL "$redis_url"
}

cmd_status() {
    local base
    [[ -n ${DATABASE_URL:-} ]] && say "DATABASE_URL is set: $DATABASE_URL"
    [[ -n ${REDIS_URL:-} ]] && say "REDIS_URL is set: $REDIS_URL"
    local system_pg=postgresql://postgres@127.0.0.1:$PG_SYSTEM_PORT/postgres
    if ! pg_up "$system_pg"; then
        say "PostgreSQL on 127.0.0.1:$PG_SYSTEM_PORT: down"
    elif pg_login "$system_pg"; then
        say "PostgreSQL on 127.0.0.1:$PG_SYSTEM_PORT: up, lets user postgres in"
    else
        say "PostgreSQL on 127.0.0.1:$PG_SYSTEM_PORT: up, refuses our login ($PG_LOGIN_ERROR)"
    fi
    if ! redis_ping 127.0.0.1 "$REDIS_SYSTEM_PORT"; then
        say "Redis on 127.0.0.1:$REDIS_SYSTEM_PORT: down"
    elif redis_login 127.0.0.1 "$REDIS_SYSTEM_PORT"; then
        say "Redis on 127.0.0.1:$REDIS_SYSTEM_PORT: up, answers without a password"
    else
        say "Redis on 127.0.0.1:$REDIS_SYSTEM_PORT: up, refuses us ($REDIS_LOGIN_ERROR)"
    fi
    if base=$(pg_private_base); then
        local port
        port=$(sed -n 's/^port = //p' "$base/data/rail-private.conf" 2>/dev/null || true)
        if [[ -f $base/data/postmaster.pid ]] && pg_up "postgresql://postgres@127.0.0.1:${port:-0}/postgres"; then
            say "private PostgreSQL: up on 127.0.0.1:$port ($base/data)"
        else
            say "private PostgreSQL: stopped ($base/data)"
        fi
    else
        say "private PostgreSQL: none"
    fi
    local pid
    if pid=$(redis_private_pid); then
        say "private Redis: running (pid $pid, log $RUN/redis.log)"
    else
        say "private Redis: not running"
    fi
}

cmd_stop() {
    [[ -d $RUN ]] || return 0
    take_lock
    stop_private_postgres
    stop_private_redis
}

cmd_purge() {
    local base
    cmd_stop
    [[ -d $RUN ]] || return 0
    if base=$(pg_private_base); then
        say "deleting the private PostgreSQL data ($base)"
        rm -rf "$base"
        rm -f "$RUN/pg"
    fi
    rm -f "$RUN/redis.log" "$RUN/redis.pid" "$RUN/dump.rdb"
}

main() {
    local cmd=up
    case ${1:-} in
    up | status | stop | purge)
        cmd=$1
        shift
        ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
        return 0
        ;;
    esac
    "cmd_$cmd" "$@"
}

# Sourcing the file (for tests) defines the functions without running anything.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    main "$@"
fi
