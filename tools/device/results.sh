#!/bin/bash
# THERE (GPU machine), from the repo root, carrying .devdeps and .carry/shared:
#   bash tools/device/results.sh 'REGEX' [JOBS]
# Builds bitfold, unpacks the carried texts and tasks, and runs tools/results on the rows REGEX
# selects, JOBS side by side (one thread each; calibration forwards, ppl and eval on the GPU), starting from the committed docs/results.json
# so that cached rows are skipped. results.json / results.md come back in $OUT; merge them here
# with `tools/results --merge OUT/results.json`.
set -euo pipefail
source tools/device/env.sh
mkdir -p /tmp/shared && tar -C /tmp/shared -xJf .carry/shared/data.tar.xz
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBITFOLD_BENCH=OFF >/dev/null
cmake --build build -j16 --target bitfold >/dev/null
cp docs/results.json "$OUT/results.json"
python3 tools/results --shared /tmp/shared --out "$OUT" --work /tmp/results-work \
  --jobs "${2:-16}" --device cuda --only "$1"
