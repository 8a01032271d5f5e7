# Shared helpers for the scripts (sourced, not run).

# The Kafka broker version that scripts/kafka.sh, the integration and image tests and the
# benchmarks start (docs/KAFKA.md): set here and nowhere else. FR_KAFKA_VERSION overrides it.
kafka_default_version=3.9.2
kafka_version() { echo "${FR_KAFKA_VERSION:-$kafka_default_version}"; }

# apt_install_missing PKG...: installs the Debian packages not yet installed (as root).
apt_install_missing() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # another setup running at the same time (shared machines, parallel CI jobs) holds dpkg's
  # lock for a while: wait for it instead of failing at once
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}"
}
