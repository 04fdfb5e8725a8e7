#!/usr/bin/env bash
# One call on the GPU machine for the CUDA ops backend and the quantized GEMMs: build everything,
# the GPU tests (kernels one process per test; ops, the GPU forward and the --device cuda CLI
# tests), the benchmark, the GEMV's SASS, and the GPU tests under compute-sanitizer memcheck.
# Logs go to $OUT (at most 8 files); a short summary is printed last.
#   bench/device_cuda_ops.sh decode|full|none [memcheck]
#     decode: bench_kernels --m 1,4,8,16 (no probe, no BTC); full: every M, --emit-table.
#     BENCH_ARGS="..." replaces the decode arguments; TESTS=kernels skips the ops/model/CLI tests,
#     TESTS=none all tests;
#     NCU=1 adds ncu on the GEMV (7B o and gate_up, W4A4, M = 1).
# Run from the checkout root on the device, after `source tools/device/env.sh`.
set -u
mode=${1:-decode}
memcheck=${2:-}
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
start=$(date +%s)
stamp() { echo "[$(( $(date +%s) - start ))s] $*" | tee -a "$OUT/steps.log"; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,power.draw,temperature.gpu --format=csv > "$OUT/steps.log" 2>&1
stamp "configure"
# WERROR off here: the device image's GCC 13 reports a -Warray-bounds false positive in
# src/quant/quantizer.cpp (std::vector = {x}); CI and the development machine build with it on.
build_log=/tmp/build.log
cmake -S . -B build -G Ninja -DBITFOLD_WERROR=OFF > $build_log 2>&1 || { stamp "configure FAILED"; tail -40 $build_log; exit 1; }
stamp "build"
cmake --build build -j16 >> $build_log 2>&1 || { stamp "build FAILED"; grep -B2 -A8 -E "error|FAILED" $build_log | head -60 | tee -a "$OUT/steps.log"; exit 1; }
if command -v cuobjdump > /dev/null; then  # the GEMV kernels' SASS and instruction mix
  cuobjdump -sass build/src/libbitfold_kernels.a 2>/dev/null |
    awk '/Function : /{p = /gemv_kernel/} p' > "$OUT/sass_gemv.txt"
  awk '/Function : /{if (name) printf "%s: %d instr, LDG %d, LDS %d, IDP4A %d, LOP3 %d, SHF %d, SHFL %d\n", name, n, g, l, d, o, s, f;
                     name = $3; n = g = l = d = o = s = f = 0; next}
       /^ +\/\*[0-9a-f]+\*\//{n++; if (/LDG/) g++; if (/LDS/) l++; if (/IDP4A/) d++; if (/LOP3/) o++; if (/SHF\./) s++; if (/SHFL/) f++}
       END{if (name) printf "%s: %d instr, LDG %d, LDS %d, IDP4A %d, LOP3 %d, SHF %d, SHFL %d\n", name, n, g, l, d, o, s, f}' \
    "$OUT/sass_gemv.txt" | tee -a "$OUT/steps.log"
fi
stamp "tests"
: > "$OUT/tests.log"
tests=$(./build/tests/test_kernels --gtest_list_tests | awk '/^[^ ]/{s=$1} /^  /{print s $1}' | grep -v '^Layout\|^Dispatch\|^FragLayout\|^GemvLayout\|^BtcLayout\|^ProducerReference')
[[ ${TESTS:-all} == none ]] && tests=""
for t in $tests; do
  timeout 150 ./build/tests/test_kernels --gtest_filter="$t" >> "$OUT/tests.log" 2>&1
  echo "kernels $t rc=$?" | tee -a "$OUT/steps.log"
done
if [[ ${TESTS:-all} == all ]]; then
  timeout 120 ./build/tests/test_ops >> "$OUT/tests.log" 2>&1; echo "ops rc=$?" | tee -a "$OUT/steps.log"
  timeout 120 ./build/tests/test_model --gtest_filter='CudaForward*:ToDevice*' >> "$OUT/tests.log" 2>&1; echo "model gpu rc=$?" | tee -a "$OUT/steps.log"
  timeout 120 ./build/tests/test_cli >> "$OUT/tests.log" 2>&1; echo "cli rc=$?" | tee -a "$OUT/steps.log"
fi
grep -E "Failure|FAILED|want |differ|error|Expected|Which is|rel_diff" "$OUT/tests.log" | head -40
stamp "bench $mode"
case $mode in
  decode) timeout 300 ./build/bench/bench_kernels ${BENCH_ARGS:---m 1,4,8,16 --no-probe --no-btc} > "$OUT/kernels.md" 2>> "$OUT/steps.log" ;;
  full) timeout 240 ./build/bench/bench_kernels --emit-table "$OUT/route_table.inc" > "$OUT/kernels.md" 2>> "$OUT/steps.log" ;;
esac
stamp "bench rc=$?"
if [[ ${NCU:-0} == 1 ]]; then
  stamp "ncu"
  ncu_args="--clock-control none --section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats --section SchedulerStats --section Occupancy --section LaunchStats"
  { timeout 90 ncu $ncu_args -k regex:^gemv_kernel -c 1 ./build/bench/bench_kernels --models 7b --layers gate_up --m 1 --formats W4A4 --no-btc --no-check --no-variants --no-probe
    timeout 90 ncu $ncu_args -k regex:^gemv_kernel -c 1 ./build/bench/bench_kernels --models 7b --layers o --m 1 --formats W4A4 --no-btc --no-check --no-variants --no-probe
  } > "$OUT/ncu.txt" 2>&1
  stamp "ncu rc=$?"
fi
if [[ $memcheck == memcheck ]]; then
  stamp "memcheck"
  { if [[ ${TESTS:-all} == all ]]; then
      timeout 70 compute-sanitizer --tool memcheck --error-exitcode 3 ./build/tests/test_ops
      echo "ops memcheck rc=$?"
      timeout 60 compute-sanitizer --tool memcheck --error-exitcode 3 ./build/tests/test_model --gtest_filter='CudaForward*'
      echo "model memcheck rc=$?"
    fi
    timeout ${MEMCHECK_S:-180} compute-sanitizer --tool memcheck --error-exitcode 3 ./build/tests/test_kernels --gtest_filter="${MEMCHECK_FILTER:-Gpu*}"
    echo "kernels memcheck rc=$?"
  } > "$OUT/memcheck.log" 2>&1
  grep -E "ERROR SUMMARY|memcheck rc" "$OUT/memcheck.log" | tee -a "$OUT/steps.log"
fi
stamp "done"
# The decode streaming summary of the benchmark, last so that it shows in the reply.
[[ -f $OUT/kernels.md ]] && sed -n '/^## Ceilings/,/^$/p' "$OUT/kernels.md"
[[ -f $OUT/kernels.md ]] && sed -n '/^## Decode (M = 1)/,$p' "$OUT/kernels.md" | head -60
