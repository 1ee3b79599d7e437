# shellcheck shell=bash
# Debian packages the project needs to build, test and run, in one list, and
# al_install_deps to install whichever are missing. Sourced, never run.
# Set AL_SKIP_DEPS=1 to skip the check (e.g. on a machine you manage by hand).

# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/common.sh"

# The one list. PostgreSQL server binaries land in /usr/lib/postgresql/15/bin.
AL_DEBIAN_PACKAGES=(
  build-essential
  cmake
  pkg-config
  libpq-dev
  libpqxx-dev
  cppzmq-dev
  libzmq3-dev
  libspdlog-dev
  nlohmann-json3-dev
  libgtest-dev
  libgmock-dev
  libcli11-dev
  libkainjow-mustache-dev
  libhpdf-dev
  libcurl4-openssl-dev
  libarchive-dev
  libssl-dev
  python3-aiosmtpd
  poppler-utils
  postgresql-15
  prometheus-cpp-dev
  libsystemd-dev
  libcpp-httplib-dev
  chromium
  openssl
)
AL_PG_BIN=/usr/lib/postgresql/15/bin

# al_package_installed NAME: true when dpkg reports NAME as installed.
al_package_installed() {
  dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed$'
}

# al_missing_packages: prints the packages of AL_DEBIAN_PACKAGES not installed.
al_missing_packages() {
  local p
  for p in "${AL_DEBIAN_PACKAGES[@]}"; do
    al_package_installed "$p" || printf '%s\n' "$p"
  done
}

# al_install_deps: installs what is missing; runs `apt-get update` only then.
al_install_deps() {
  if [[ "${AL_SKIP_DEPS:-0}" == 1 ]]; then
    al_log "deps: AL_SKIP_DEPS=1, not checking Debian packages"
    return 0
  fi
  command -v dpkg >/dev/null || al_die "deps: dpkg not found; this script expects Debian 12"
  local missing
  mapfile -t missing < <(al_missing_packages)
  if ((${#missing[@]} == 0)); then
    al_log "deps: all ${#AL_DEBIAN_PACKAGES[@]} Debian packages present"
    return 0
  fi
  al_log "deps: installing ${#missing[@]} missing package(s): ${missing[*]}"
  local -a sudo=()
  if ! al_is_root; then
    command -v sudo >/dev/null ||
      al_die "deps: not root and no sudo; install as root: apt-get install ${missing[*]}"
    sudo=(sudo)
  fi
  local -a apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300)
  "${apt[@]}" update || al_die "deps: apt-get update failed (network or sources.list?)"
  "${apt[@]}" install -y --no-install-recommends "${missing[@]}" ||
    al_die "deps: apt-get install failed for: ${missing[*]}"
  mapfile -t missing < <(al_missing_packages)
  ((${#missing[@]} == 0)) || al_die "deps: still missing after install: ${missing[*]}"
  [[ -x "$AL_PG_BIN/initdb" ]] || al_die "deps: $AL_PG_BIN/initdb missing after installing postgresql-15"
  al_log "deps: done"
}
