#!/usr/bin/env bash
# One call on the GPU machine: build, GPU tests (one process per test, so a crash cannot hide
# the others), the benchmark, and the tests under compute-sanitizer memcheck. Logs go to $OUT.
#   bench/device_run.sh quick|full [extra bench args...]
# Run from the checkout root on the device, after `source tools/device/env.sh`.
set -u
mode=${1:-quick}; shift || true
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
start=$(date +%s)
stamp() { echo "[$(( $(date +%s) - start ))s] $*" | tee -a "$OUT/steps.log"; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,power.draw,temperature.gpu --format=csv > "$OUT/steps.log" 2>&1
stamp "configure"
cmake -S . -B build -G Ninja -DBITFOLD_WERROR=ON > "$OUT/build.log" 2>&1 || { stamp "configure FAILED"; tail -40 "$OUT/build.log"; exit 1; }
stamp "build"
cmake --build build -j16 --target test_kernels bench_kernels >> "$OUT/build.log" 2>&1 || { stamp "build FAILED"; grep -B2 -A8 -E "error|FAILED" "$OUT/build.log" | head -60; exit 1; }
stamp "tests"
tests=$(./build/tests/test_kernels --gtest_list_tests | awk '/^[^ ]/{s=$1} /^  /{print s $1}')
: > "$OUT/tests.log"
for t in $tests; do
  timeout 120 ./build/tests/test_kernels --gtest_filter="$t" >> "$OUT/tests.log" 2>&1
  rc=$?
  echo "$t rc=$rc" | tee -a "$OUT/steps.log"
done
grep -E "Failure|FAILED|want|differ|error" "$OUT/tests.log" | head -60
stamp "bench $mode"
if [[ $mode == quick ]]; then
  timeout 330 ./build/bench/bench_kernels --quick "$@" > "$OUT/kernels.md" 2> "$OUT/bench.err"
else
  timeout 480 ./build/bench/bench_kernels --emit-table "$OUT/route_table.inc" "$@" > "$OUT/kernels.md" 2> "$OUT/bench.err"
fi
stamp "bench rc=$?"
tail -5 "$OUT/bench.err"
if [[ ${NCU:-0} == 1 ]]; then
  stamp "ncu"
  ncu_args="--clock-control none --section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats --section SchedulerStats --section Occupancy --section LaunchStats"
  { timeout 120 ncu $ncu_args -k regex:wgmma_kernel -c 1 ./build/bench/bench_kernels --models 7b --layers o --m 8192 --formats W8A8 --no-btc --no-check --no-variants --no-probe
    timeout 60 ncu $ncu_args -k regex:decode_async -c 1 ./build/bench/bench_kernels --models 7b --layers gate_up --m 1 --formats W4A4 --no-btc --no-check --no-variants --no-probe
  } > "$OUT/ncu.txt" 2>&1
  stamp "ncu rc=$?"
fi
stamp "memcheck"
timeout 100 compute-sanitizer --tool memcheck --error-exitcode 3 ./build/tests/test_kernels --gtest_filter='Gpu*' > "$OUT/memcheck.log" 2>&1
stamp "memcheck rc=$?"
grep -E "ERROR SUMMARY|Invalid|PASSED|FAILED" "$OUT/memcheck.log" | head -20
stamp "done"
