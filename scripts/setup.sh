#!/usr/bin/env bash
# Installs the system packages ropim needs on Debian/Ubuntu (GEMM library, zlib, JPEG, PNG, Open MPI, Fashion-MNIST).
# Idempotent: does nothing when they are already there. Needs root (or sudo) the first time.
set -euo pipefail
packages=(libdnnl-dev zlib1g-dev libturbojpeg0-dev libpng-dev libopenmpi-dev openmpi-bin dataset-fashion-mnist)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
command -v swift >/dev/null || { echo "setup: swift is not on PATH; install Swift 6 (swift.org) first" >&2; exit 1; }
