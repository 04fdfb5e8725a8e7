#!/usr/bin/env bash
# Installs the Debian 12 packages bitfold builds with, when any is missing (apt-get; sudo when not
# root). The CUDA toolkit is not a Debian package: when nvcc is found (PATH or /usr/local/cuda) the
# CUDA backend is built too, otherwise bitfold builds CPU-only.
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config git
  libopenblas-openmp-dev libsentencepiece-dev libpcre2-dev
  nlohmann-json3-dev libcli11-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bitfold: installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
