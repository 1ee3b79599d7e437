# shellcheck shell=bash
# Shared helpers for scripts/: messages, the repository root, free ports and
# waiting for a port to accept. Sourced, never run; relies only on bash and,
# for port probing, /usr/bin/python3 (installed by deps.sh).

if [[ -n "${AL_LIB_COMMON_LOADED:-}" ]]; then
  return 0
fi
AL_LIB_COMMON_LOADED=1

# The repository root, from this file's own location (scripts/lib/..).
# shellcheck disable=SC2034 # used by the scripts that source this
AL_ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)"
AL_PYTHON=/usr/bin/python3

# Messages: "al: component: text" on stderr, so stdout stays clean for data.
al_log() { printf 'al: %s\n' "$*" >&2; }
al_warn() { printf 'al: warning: %s\n' "$*" >&2; }
al_die() {
  printf 'al: error: %s\n' "$*" >&2
  exit 1
}

# al_is_root: true when running as uid 0.
al_is_root() { [[ "$(id -u)" -eq 0 ]]; }

# al_port_accepts HOST PORT: true when something accepts TCP connections there.
al_port_accepts() {
  local host=$1 port=$2
  (exec 3<>"/dev/tcp/${host}/${port}") 2>/dev/null
}

# al_free_port: prints a TCP port on 127.0.0.1 that nobody holds right now.
# Draws from 15000-32000, below Linux's ephemeral range, so outgoing connections
# do not land on it between this check and the service binding it. The caller
# still retries on "address in use": another process may win the race.
al_free_port() {
  "$AL_PYTHON" - <<'EOF'
import random, socket, sys
for _ in range(500):
    port = random.randint(15000, 32000)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    sys.exit(0)
sys.exit("no free TCP port found on 127.0.0.1 after 500 tries")
EOF
}

# al_pid_alive PID: true when PID runs and is not a zombie.
al_pid_alive() {
  local pid=$1 state
  [[ -n "$pid" ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo X)
  [[ "$state" != Z && "$state" != X ]]
}

# al_wait_port NAME HOST PORT TIMEOUT_S [PID] [LOGFILE]: waits until HOST:PORT
# accepts. Fails (returns 1, with the log's tail) on timeout or when PID dies.
al_wait_port() {
  local name=$1 host=$2 port=$3 timeout_s=$4 pid=${5:-} logfile=${6:-}
  local deadline=$((SECONDS + timeout_s))
  while ((SECONDS < deadline)); do
    if al_port_accepts "$host" "$port"; then
      return 0
    fi
    if [[ -n "$pid" ]] && ! al_pid_alive "$pid"; then
      al_warn "$name: process $pid exited before ${host}:${port} accepted connections"
      al_show_log_tail "$logfile"
      return 1
    fi
    sleep 0.1
  done
  al_warn "$name: ${host}:${port} did not accept connections within ${timeout_s}s"
  al_show_log_tail "$logfile"
  return 1
}

# al_show_log_tail FILE [LINES]: prints the end of a log to stderr, if any.
al_show_log_tail() {
  local file=${1:-} lines=${2:-20}
  if [[ -n "$file" && -s "$file" ]]; then
    printf 'al: --- last %s lines of %s ---\n' "$lines" "$file" >&2
    tail -n "$lines" "$file" >&2 || true
    printf 'al: --- end of %s ---\n' "$file" >&2
  fi
}

# al_stop_pid NAME PID [TIMEOUT_S]: SIGTERM, wait, then SIGKILL. Idempotent:
# an empty or dead PID is fine. Reaps the process if it is our child.
al_stop_pid() {
  local name=$1 pid=${2:-} timeout_s=${3:-10}
  [[ -n "$pid" ]] || return 0
  if al_pid_alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + timeout_s))
    while al_pid_alive "$pid" && ((SECONDS < deadline)); do
      sleep 0.1
    done
    if al_pid_alive "$pid"; then
      al_warn "$name: pid $pid ignored SIGTERM for ${timeout_s}s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
  return 0
}

# al_stop_pidfile NAME PIDFILE [MARKER]: stops the process named in PIDFILE if
# its command line still contains MARKER (guards against a recycled pid), then
# removes the file. Idempotent.
al_stop_pidfile() {
  local name=$1 pidfile=$2 marker=${3:-}
  [[ -f "$pidfile" ]] || return 0
  local pid
  pid=$(<"$pidfile") || pid=
  if [[ -n "$pid" ]] && al_pid_alive "$pid"; then
    if [[ -z "$marker" ]] || tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$marker"; then
      al_stop_pid "$name" "$pid"
    else
      al_warn "$name: pid $pid from $pidfile is no longer ours, leaving it alone"
    fi
  fi
  rm -f -- "$pidfile"
}

# al_pid_listens PID PORT: true when process PID holds a listening TCP socket
# on PORT (read from /proc), so a port another process grabbed in the
# meantime is not mistaken for ours.
al_pid_listens() {
  local pid=$1 port=$2 hex inode
  hex=$(printf '%04X' "$port")
  local -a inodes
  mapfile -t inodes < <(awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { print $10 }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null)
  for inode in "${inodes[@]}"; do
    if find "/proc/$pid/fd" -maxdepth 1 -lname "socket:\[$inode\]" 2>/dev/null | grep -q .; then
      return 0
    fi
  done
  return 1
}

# al_spawn_session LOGFILE CMD...: starts CMD in the background in a new
# session (its own process group, no controlling terminal) with SIGINT and
# SIGQUIT back at their defaults (bash ignores them in background jobs, and
# programs would inherit that). Output goes to LOGFILE ("-" keeps ours).
# Sets AL_SPAWN_PID, which is also the process group id.
al_spawn_session() {
  local logfile=$1
  shift
  local -a launcher=("$AL_PYTHON" -c '
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
signal.signal(signal.SIGQUIT, signal.SIG_DFL)
try:
    os.setsid()
except OSError:
    pass
os.execvp(sys.argv[1], sys.argv[1:])
')
  if [[ "$logfile" == - ]]; then
    "${launcher[@]}" "$@" </dev/null &
  else
    "${launcher[@]}" "$@" </dev/null >>"$logfile" 2>&1 &
  fi
  # shellcheck disable=SC2034 # read by the caller
  AL_SPAWN_PID=$!
}

# al_stop_group NAME PID [TIMEOUT_S]: SIGTERM to PID, wait, then SIGKILL to its
# whole process group (everything it started that did not leave the group).
al_stop_group() {
  local name=$1 pid=${2:-} timeout_s=${3:-10}
  [[ -n "$pid" ]] || return 0
  al_stop_pid "$name" "$pid" "$timeout_s"
  kill -KILL -- "-$pid" 2>/dev/null || true
}

# Exit hooks: commands run once, newest first, when the script exits for any
# reason (normal end, error under set -e, Ctrl-C, SIGTERM).
AL_EXIT_HOOKS=()
al_on_exit() { AL_EXIT_HOOKS+=("$1"); }
al_run_exit_hooks() {
  local i hook
  for ((i = ${#AL_EXIT_HOOKS[@]} - 1; i >= 0; i--)); do
    hook=${AL_EXIT_HOOKS[i]}
    unset 'AL_EXIT_HOOKS[i]'
    eval "$hook" || true
  done
  AL_EXIT_HOOKS=()
}
al_install_traps() {
  trap 'al_run_exit_hooks' EXIT
  trap 'al_log "interrupted, cleaning up"; exit 130' INT
  trap 'al_log "terminated, cleaning up"; exit 143' TERM
  trap 'al_log "hangup, cleaning up"; exit 129' HUP
}
