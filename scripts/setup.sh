#!/usr/bin/env bash
# Installs the pinned Debian packages that are missing (scripts/debian-packages.txt).
# Run as root on Debian 12; does nothing when everything is already there.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
missing=()
while read -r line; do
  line="${line%%#*}"; line="$(echo "$line" | xargs)"
  [ -z "$line" ] && continue
  pkg="${line%%=*}"; ver="${line#*=}"
  have="$(dpkg-query -W -f='${Status} ${Version}' "$pkg" 2>/dev/null || true)"
  if [[ "$have" == "install ok installed "* ]]; then
    [ "${have##* }" != "$ver" ] && echo "setup: $pkg ${have##* } installed (pinned $ver); keeping it"
  else
    missing+=("$pkg=$ver")
  fi
done < "$here/debian-packages.txt"
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # Exact pins first; if the archive has moved on, the current bookworm version.
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" ||
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]%%=*}"
fi
