#!/usr/bin/env bash
# Run HERE (Debian 12): downloads the Debian packages bitfold builds with into .devdeps/ (git
# ignores it), to be carried to the GPU machine, which has no package registry.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
mkdir -p .devdeps && cd .devdeps
apt-get download libopenblas-openmp-dev libopenblas0-openmp libsentencepiece-dev libsentencepiece0 \
  libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3 nlohmann-json3-dev \
  libcli11-dev libfmt-dev libfmt9 libgtest-dev libgmock-dev libbenchmark-dev libbenchmark1debian \
  libprotobuf-lite32 libprotobuf32
