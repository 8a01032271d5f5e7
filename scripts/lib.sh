# Shared helpers for the scripts (sourced, not run).

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
