# shellcheck shell=bash
# Configure and build with CMake. Sourced, never run.
#   al_build [--sanitize] [-- extra cmake configure args]
# Sets AL_BUILD_DIR (absolute): build/ or, with --sanitize, build-sanitize/
# (-DAL_SANITIZE=ON). Jobs: AL_BUILD_JOBS (default 2: each translation unit
# with pqxx+zmq+spdlog takes about 400 MB). Builds in one tree are serialized
# by a lock in the build directory, so two scripts in one checkout do not
# build over each other.

# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/common.sh"

# al_build_dir_for [--sanitize]: sets AL_BUILD_DIR without building.
al_build_dir_for() {
  if [[ "${1:-}" == --sanitize ]]; then
    AL_BUILD_DIR="$AL_ROOT/build-sanitize"
  else
    AL_BUILD_DIR="$AL_ROOT/build"
  fi
}

# al_lock_build_dir MODE(shared|exclusive): takes the build directory's lock on
# fd AL_BUILD_LOCK_FD (released by al_unlock_build_dir or at exit), telling the
# user when it has to wait for another run.
al_lock_build_dir() {
  local mode=$1 flag=-x
  [[ "$mode" == shared ]] && flag=-s
  mkdir -p -- "$AL_BUILD_DIR"
  exec {AL_BUILD_LOCK_FD}>>"$AL_BUILD_DIR/.al-build.lock"
  if ! flock -n "$flag" "$AL_BUILD_LOCK_FD"; then
    al_log "build: $AL_BUILD_DIR is in use by another build or test run, waiting for it"
    flock "$flag" "$AL_BUILD_LOCK_FD"
  fi
}
al_unlock_build_dir() {
  if [[ -n "${AL_BUILD_LOCK_FD:-}" ]]; then
    exec {AL_BUILD_LOCK_FD}>&-
    AL_BUILD_LOCK_FD=
  fi
}

al_build() {
  local sanitize=
  local -a cmake_args=()
  while (($#)); do
    case "$1" in
      --sanitize) sanitize=--sanitize ;;
      --) shift; cmake_args+=("$@"); break ;;
      *) cmake_args+=("$1") ;;
    esac
    shift
  done
  command -v cmake >/dev/null || al_die "build: cmake not found (run scripts/lib/deps.sh's al_install_deps)"
  al_build_dir_for $sanitize
  local -a configure=(cmake -S "$AL_ROOT" -B "$AL_BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo)
  [[ -n "$sanitize" ]] && configure+=(-DAL_SANITIZE=ON)
  configure+=("${cmake_args[@]}")

  al_lock_build_dir exclusive
  al_log "build: configuring $AL_BUILD_DIR${sanitize:+ (AddressSanitizer + UBSan)}"
  "${configure[@]}" || { al_unlock_build_dir; al_die "build: cmake configure failed (see above)"; }
  al_log "build: compiling with ${AL_BUILD_JOBS:-2} jobs"
  cmake --build "$AL_BUILD_DIR" -j "${AL_BUILD_JOBS:-2}" ||
    { al_unlock_build_dir; al_die "build: compilation failed (see above)"; }
  al_unlock_build_dir
  al_log "build: done, binaries in $AL_BUILD_DIR/bin"
}
