# Sourced by scripts/setup.sh and scripts/setup-bench.sh (which define say()).
#
# install_missing_debian_packages PKG...: installs, with apt-get, those of the
# named Debian packages dpkg does not list as installed (through sudo when not
# root), and says which; says so when all are present.
install_missing_debian_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then
    say "Debian packages present"
    return 0
  fi
  say "installing Debian packages: ${missing[*]}"
  local sudo_cmd=""
  [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
