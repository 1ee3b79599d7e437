# shellcheck shell=bash
# Start and stop the peers the line and its tests talk to: a PostgreSQL 15
# server (run as user postgres when we are root), an SMTP sink that stores
# mail in a Maildir (aiosmtpd), and a webhook receiver that logs each POST as
# one JSON line (tests/services/webhook_receiver.py). Sourced, never run.
#
# Every start function waits until its service accepts connections (at most
# AL_SERVICE_TIMEOUT_S, default 30 s) and fails loudly, with the log's tail,
# otherwise. Every stop function is idempotent. "auto" as a port picks a free
# one and retries on a lost race.

# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=SCRIPTDIR/deps.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/deps.sh"

AL_SERVICE_TIMEOUT_S=${AL_SERVICE_TIMEOUT_S:-30}
AL_PORT_TRIES=5

# ---------------------------------------------------------------- PostgreSQL

# al_pg_run CMD...: runs CMD as the owner PostgreSQL needs: user postgres when
# we are root (initdb and postgres refuse root), ourselves otherwise. Runs from
# / so a home directory postgres cannot read does not matter.
al_pg_run() {
  if al_is_root; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && "$@")
  fi
}

# al_pg_prepare_dir DIR: creates DIR owned by the server's user, mode 0700, and
# checks that user can reach it through every parent directory.
al_pg_prepare_dir() {
  local dir=$1
  mkdir -p -- "$dir"
  if al_is_root; then
    id postgres >/dev/null 2>&1 || al_die "postgres: no user 'postgres' (is postgresql-15 installed?)"
    chown postgres:postgres -- "$dir"
  fi
  chmod 0700 -- "$dir"
  al_pg_run test -w "$dir" -a -x "$dir" ||
    al_die "postgres: user postgres cannot reach $dir (a parent directory is not searchable by others)"
}

# al_pg_init DATA: initdb DATA unless it already holds a cluster. Trust auth,
# superuser postgres, UTF-8 with the C locale (byte order, same everywhere).
al_pg_init() {
  local data=$1
  if [[ -f "$data/PG_VERSION" ]]; then
    return 0
  fi
  al_pg_prepare_dir "$data"
  local -a extra=()
  [[ "${2:-}" == nosync ]] && extra=(--no-sync)
  al_log "postgres: initdb $data"
  al_pg_run "$AL_PG_BIN/initdb" -D "$data" -A trust -U postgres -E UTF8 --locale=C "${extra[@]}" \
    >"$data.initdb.log" 2>&1 || {
    al_show_log_tail "$data.initdb.log" 40
    al_die "postgres: initdb failed for $data (full output in $data.initdb.log)"
  }
  rm -f -- "$data.initdb.log"
  # Our settings live in one file the main config includes, rewritten on
  # every start; a plain `pg_ctl start` or `restart` later picks them up too.
  printf "\n# Added by scripts/lib/services.sh\ninclude_if_exists = 'assemblyline.conf'\n" \
    | al_pg_run tee -a "$data/postgresql.conf" >/dev/null
}

# al_pg_configure DATA PORT FSYNC(on|off): writes DATA/assemblyline.conf.
al_pg_configure() {
  local data=$1 port=$2 fsync=$3 sockdir=$1
  # A Unix socket path must fit in 107 bytes; without room, TCP only.
  if ((${#data} + 20 > 100)); then
    al_warn "postgres: $data is too long for a Unix socket path, listening on TCP only"
    sockdir=
  fi
  {
    echo "# Written by scripts/lib/services.sh on every start; edits are lost."
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $port"
    echo "unix_socket_directories = '$sockdir'"
    echo "max_connections = ${AL_PG_MAX_CONNECTIONS:-200}"
    echo "fsync = $fsync"
    if [[ "$fsync" == off ]]; then
      # Throwaway test clusters only: a machine crash may lose them; a
      # PostgreSQL crash or restart may not.
      echo "synchronous_commit = off"
      echo "full_page_writes = off"
    fi
    # Extra settings for one start, e.g. a bench's pg_stat_statements.
    if [[ -n "${AL_PG_EXTRA_CONF:-}" ]]; then
      printf '%s\n' "$AL_PG_EXTRA_CONF"
    fi
  } | al_pg_run tee "$data/assemblyline.conf" >/dev/null
}

# al_pg_running DATA: true when a server runs on DATA.
al_pg_running() {
  [[ -f "$1/postmaster.pid" ]] && al_pg_run "$AL_PG_BIN/pg_ctl" -D "$1" status >/dev/null 2>&1
}

# al_pg_running_port DATA: prints the port of the server running on DATA.
al_pg_running_port() {
  sed -n 4p "$1/postmaster.pid"
}

# al_pg_start DATA PORT|auto [FSYNC=off] [LOG=DATA/server.log]: initdb if
# needed, start, wait until TCP connections on 127.0.0.1 work. A server that
# already runs on DATA is reused. Sets AL_PG_DATA, AL_PG_PORT, AL_PG_LOG.
al_pg_start() {
  local data=$1 want_port=$2 fsync=${3:-off} log=${4:-$1/server.log}
  [[ -x "$AL_PG_BIN/pg_ctl" ]] || al_die "postgres: $AL_PG_BIN/pg_ctl not found (install postgresql-15)"
  AL_PG_DATA=$data
  AL_PG_LOG=$log
  if al_pg_running "$data"; then
    AL_PG_PORT=$(al_pg_running_port "$data")
    if [[ "$want_port" != auto && "$want_port" != "$AL_PG_PORT" ]]; then
      al_die "postgres: the server on $data already runs on port $AL_PG_PORT, not $want_port; stop it first"
    fi
    al_log "postgres: already running on 127.0.0.1:$AL_PG_PORT ($data)"
    return 0
  fi
  if [[ "$fsync" == off ]]; then al_pg_init "$data" nosync; else al_pg_init "$data"; fi
  al_pg_run touch "$log" || al_die "postgres: user postgres cannot write the log $log"

  local tries=1 try port before
  [[ "$want_port" == auto ]] && tries=$AL_PORT_TRIES
  for ((try = 1; try <= tries; try++)); do
    if [[ "$want_port" == auto ]]; then port=$(al_free_port); else port=$want_port; fi
    if al_port_accepts 127.0.0.1 "$port"; then
      [[ "$want_port" == auto ]] && continue
      al_die "postgres: port $port on 127.0.0.1 is already taken by another process"
    fi
    al_pg_configure "$data" "$port" "$fsync"
    before=$(wc -l <"$log")
    if al_pg_run "$AL_PG_BIN/pg_ctl" -D "$data" -l "$log" -w -t "$AL_SERVICE_TIMEOUT_S" start >/dev/null; then
      "$AL_PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -t "$AL_SERVICE_TIMEOUT_S" ||
        al_die "postgres: started but 127.0.0.1:$port does not answer (see $log)"
      AL_PG_PORT=$port
      al_log "postgres: ready on 127.0.0.1:$port (data $data, fsync $fsync)"
      return 0
    fi
    if [[ "$want_port" == auto ]] && tail -n "+$((before + 1))" "$log" | grep -q 'already in use'; then
      al_warn "postgres: lost the race for port $port, trying another"
      al_pg_stop "$data"
      continue
    fi
    break
  done
  al_show_log_tail "$log" 30
  al_die "postgres: could not start the server on $data (log: $log)"
}

# al_pg_stop DATA: fast shutdown (immediate if that hangs). Idempotent.
al_pg_stop() {
  local data=${1:-}
  [[ -n "$data" && -f "$data/postmaster.pid" ]] || return 0
  al_pg_running "$data" || return 0
  if ! al_pg_run "$AL_PG_BIN/pg_ctl" -D "$data" -m fast -w -t "$AL_SERVICE_TIMEOUT_S" stop >/dev/null 2>&1; then
    al_warn "postgres: fast shutdown of $data timed out, using immediate"
    al_pg_run "$AL_PG_BIN/pg_ctl" -D "$data" -m immediate -w -t "$AL_SERVICE_TIMEOUT_S" stop >/dev/null 2>&1 || true
  fi
  al_log "postgres: stopped ($data)"
}

# al_pg_psql PORT DB ARGS...: psql as postgres over TCP, failing on errors.
al_pg_psql() {
  local port=$1 db=$2
  shift 2
  "$AL_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d "$db" "$@"
}

# al_pg_ensure_database PORT NAME: creates database NAME unless it exists.
al_pg_ensure_database() {
  local port=$1 name=$2
  if [[ "$(al_pg_psql "$port" postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$name'")" == 1 ]]; then
    return 0
  fi
  "$AL_PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres "$name" ||
    al_die "postgres: could not create database $name on port $port"
  al_log "postgres: created database $name"
}

# ---------------------------------------------------------------- SMTP sink

# al_smtp_start MAILDIR PORT|auto LOG PIDFILE [detach]: an aiosmtpd server that
# accepts everything on 127.0.0.1 and stores each message as a file in
# MAILDIR/new. "detach" starts it in its own session so it outlives us.
# Sets AL_SMTP_PORT and AL_SMTP_PID.
al_smtp_start() {
  local maildir=$1 want_port=$2 log=$3 pidfile=$4 detach=${5:-}
  "$AL_PYTHON" -c 'import aiosmtpd' 2>/dev/null ||
    al_die "smtp: $AL_PYTHON cannot import aiosmtpd (install python3-aiosmtpd)"
  mkdir -p -- "$maildir/tmp" "$maildir/new" "$maildir/cur" "$(dirname -- "$log")" "$(dirname -- "$pidfile")"
  local tries=1 try port
  [[ "$want_port" == auto ]] && tries=$AL_PORT_TRIES
  for ((try = 1; try <= tries; try++)); do
    if [[ "$want_port" == auto ]]; then port=$(al_free_port); else port=$want_port; fi
    local -a cmd=("$AL_PYTHON" -m aiosmtpd -n -l "127.0.0.1:$port" -c aiosmtpd.handlers.Mailbox "$maildir")
    if [[ "$detach" == detach ]]; then
      al_spawn_session "$log" "${cmd[@]}"
      AL_SMTP_PID=$AL_SPAWN_PID
    else
      "${cmd[@]}" </dev/null >>"$log" 2>&1 &
      AL_SMTP_PID=$!
    fi
    echo "$AL_SMTP_PID" >"$pidfile"
    if al_wait_port smtp 127.0.0.1 "$port" "$AL_SERVICE_TIMEOUT_S" "$AL_SMTP_PID" "$log"; then
      AL_SMTP_PORT=$port
      al_log "smtp: sink ready on 127.0.0.1:$port (Maildir $maildir)"
      return 0
    fi
    al_stop_pidfile smtp "$pidfile"
    [[ "$want_port" == auto ]] || break
    al_warn "smtp: could not listen on port $port, trying another"
  done
  al_die "smtp: could not start the sink (log: $log)"
}

# al_smtp_stop PIDFILE: idempotent.
al_smtp_stop() {
  al_stop_pidfile smtp "$1" aiosmtpd
}

# ------------------------------------------------------------ webhook receiver

AL_WEBHOOK_RECEIVER="$AL_ROOT/tests/services/webhook_receiver.py"

# al_webhook_start JSONL PORT|auto LOG PIDFILE [STATUS]: the receiver appends
# each POST to JSONL and answers STATUS (default 200).
# Sets AL_WEBHOOK_PORT and AL_WEBHOOK_PID.
al_webhook_start() {
  local jsonl=$1 want_port=$2 log=$3 pidfile=$4 status=${5:-200}
  [[ -f "$AL_WEBHOOK_RECEIVER" ]] || al_die "webhook: $AL_WEBHOOK_RECEIVER is missing"
  mkdir -p -- "$(dirname -- "$jsonl")" "$(dirname -- "$log")" "$(dirname -- "$pidfile")"
  : >>"$jsonl"
  local tries=1 try port
  [[ "$want_port" == auto ]] && tries=$AL_PORT_TRIES
  for ((try = 1; try <= tries; try++)); do
    if [[ "$want_port" == auto ]]; then port=$(al_free_port); else port=$want_port; fi
    "$AL_PYTHON" "$AL_WEBHOOK_RECEIVER" --port "$port" --log "$jsonl" --status "$status" \
      </dev/null >>"$log" 2>&1 &
    AL_WEBHOOK_PID=$!
    echo "$AL_WEBHOOK_PID" >"$pidfile"
    if al_wait_port webhook 127.0.0.1 "$port" "$AL_SERVICE_TIMEOUT_S" "$AL_WEBHOOK_PID" "$log"; then
      AL_WEBHOOK_PORT=$port
      al_log "webhook: receiver ready on 127.0.0.1:$port (log $jsonl)"
      return 0
    fi
    al_stop_pidfile webhook "$pidfile"
    [[ "$want_port" == auto ]] || break
    al_warn "webhook: could not listen on port $port, trying another"
  done
  al_die "webhook: could not start the receiver (log: $log)"
}

# al_webhook_stop PIDFILE: idempotent.
al_webhook_stop() {
  al_stop_pidfile webhook "$1" webhook_receiver.py
}

# ------------------------------------------------- the test environment bundle

# al_test_services_start BASE: a throwaway PostgreSQL, SMTP sink and webhook
# receiver under the new directory BASE, on free ports; exports the AL_TEST_*
# variables the tests read. Pair with al_test_services_stop (idempotent).
al_test_services_start() {
  local base=$1
  AL_TEST_SERVICES_BASE=$base
  mkdir -p -- "$base"
  chmod 0711 -- "$base" # postgres must traverse it to reach its own directory
  al_pg_prepare_dir "$base/pg"
  al_pg_start "$base/pg/data" auto "${AL_TEST_PG_FSYNC:-off}" "$base/pg/server.log"
  al_smtp_start "$base/mail" auto "$base/logs/smtp.log" "$base/run/smtp.pid"
  al_webhook_start "$base/webhook/hooks.jsonl" auto "$base/logs/webhook.log" "$base/run/webhook.pid"
  mkdir -p -- "$base/scratch"

  export AL_TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:$AL_PG_PORT/postgres"
  export AL_TEST_PG_BIN=$AL_PG_BIN
  export AL_TEST_PG_DATA=$AL_PG_DATA
  export AL_TEST_PG_PORT=$AL_PG_PORT
  export AL_TEST_PG_LOG=$AL_PG_LOG
  export AL_TEST_PG_CTL="$AL_ROOT/tests/services/pg_ctl"
  export AL_TEST_PG_PRIVATE="$AL_ROOT/tests/services/pg_private"
  export AL_TEST_SMTP_URL="smtp://127.0.0.1:$AL_SMTP_PORT"
  export AL_TEST_SMTP_PORT=$AL_SMTP_PORT
  export AL_TEST_MAILDIR="$base/mail"
  export AL_TEST_WEBHOOK_URL="http://127.0.0.1:$AL_WEBHOOK_PORT/hook"
  export AL_TEST_WEBHOOK_PORT=$AL_WEBHOOK_PORT
  export AL_TEST_WEBHOOK_LOG="$base/webhook/hooks.jsonl"
  export AL_TEST_TMP="$base/scratch"
}

# al_test_services_stop [KEEP_LOGS_DIR]: stops all three; copies their logs to
# KEEP_LOGS_DIR when given; removes BASE unless AL_TEST_KEEP_TMP=1.
al_test_services_stop() {
  local base=${AL_TEST_SERVICES_BASE:-} keep=${1:-}
  [[ -n "$base" ]] || return 0
  al_webhook_stop "$base/run/webhook.pid"
  al_smtp_stop "$base/run/smtp.pid"
  al_pg_stop "$base/pg/data"
  # Servers tests started for themselves (tests/services/pg_private) and left.
  local pidfile
  while IFS= read -r pidfile; do
    al_pg_stop "$(dirname -- "$pidfile")"
  done < <(find "$base/scratch" -name postmaster.pid 2>/dev/null)
  if [[ -n "$keep" ]]; then
    mkdir -p -- "$keep"
    cp -f -- "$base/pg/server.log" "$keep/postgres.log" 2>/dev/null || true
    cp -f -- "$base/logs/smtp.log" "$keep/smtp.log" 2>/dev/null || true
    cp -f -- "$base/logs/webhook.log" "$keep/webhook.log" 2>/dev/null || true
    cp -f -- "$base/webhook/hooks.jsonl" "$keep/hooks.jsonl" 2>/dev/null || true
  fi
  if [[ "${AL_TEST_KEEP_TMP:-0}" == 1 ]]; then
    al_log "test services: kept $base (AL_TEST_KEEP_TMP=1)"
  else
    rm -rf -- "$base"
  fi
  AL_TEST_SERVICES_BASE=
}
