#!/bin/bash
# THERE (GPU machine), from the repo root, carrying .devdeps and .carry/shared:
#   bash tools/device/results.sh                                       build only
#   bash tools/device/results.sh 'REGEX' [JOBS] [DEVICE] [THREADS] [NAME]
# Builds bitfold (once), unpacks the carried texts and tasks, and runs tools/results on the rows
# REGEX selects, JOBS side by side (THREADS each; DEVICE cuda: calibration forwards, ppl and eval
# on the GPU; cpu: on the cores), starting from the committed docs/results.json so that cached rows
# are skipped. $OUT/NAME/results.{json,md} come back; merge them here with
# `tools/results --merge OUT/NAME/results.json`. Two runs may go side by side (one on the GPU, one
# on the cores) once a build-only run has finished.
set -euo pipefail
source tools/device/env.sh
if [[ ! -d /tmp/shared/text ]]; then
  mkdir -p /tmp/shared && tar -C /tmp/shared -xJf .carry/shared/data.tar.xz
fi
if [[ $# -eq 0 ]]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBITFOLD_BENCH=OFF >/dev/null
  cmake --build build -j16 --target bitfold >/dev/null
  exit 0
fi
name=${5:-results}
mkdir -p "$OUT/$name"
[[ -f $OUT/$name/results.json ]] || cp docs/results.json "$OUT/$name/results.json"
python3 tools/results --shared /tmp/shared --out "$OUT/$name" --work "/tmp/results-work-$name" \
  --jobs "${2:-4}" --device "${3:-cuda}" --threads "${4:-1}" --only "$1"
