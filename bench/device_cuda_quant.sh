#!/usr/bin/env bash
# One call on the GPU machine for quantized models on the CUDA backend: build, the GPU tests of
# the integer engine / KV fake-quant / quantized forward / GPU calibration / CLI, the existing GPU
# tests (ops, CUDA forward, kernels), then `bitfold quantize --device cpu|cuda` (W4A4 RTN static
# per channel on the demo model) and `bitfold ppl` of the results on the CPU and the GPU.
# Logs go to $OUT; a short summary is printed last.
# Run from the checkout root on the device, after `source tools/device/env.sh`.
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
start=$(date +%s)
stamp() { echo "[$(( $(date +%s) - start ))s] $*" | tee -a "$OUT/steps.log"; }
nvidia-smi --query-gpu=name,driver_version --format=csv > "$OUT/steps.log" 2>&1
stamp "configure + build"
# WERROR off here: the device image's GCC 13 reports a -Warray-bounds false positive; only the
# targets used here are built (tests/eval/reference_loglik_test.cpp does not compile with the
# device image's nlohmann-json).
cmake -S . -B build -G Ninja -DBITFOLD_WERROR=OFF > /tmp/build.log 2>&1 &&
  cmake --build build -j16 --target bitfold test_ops test_model test_methods test_cli test_kernels >> /tmp/build.log 2>&1 ||
  { stamp "build FAILED"; grep -B2 -A8 -E "error|FAILED" /tmp/build.log | head -60 | tee -a "$OUT/steps.log"; exit 1; }
stamp "tests"
run_test() {  # name, timeout, command...
  local name=$1 limit=$2; shift 2
  timeout "$limit" "$@" > "$OUT/test_$name.log" 2>&1
  local rc=$?
  echo "$name rc=$rc $(grep -E '^\[  (PASSED|FAILED|SKIPPED) ' "$OUT/test_$name.log" | tr '\n' ' ')" | tee -a "$OUT/steps.log"
}
run_test ops 150 ./build/tests/test_ops
run_test model_gpu 90 ./build/tests/test_model --gtest_filter='CudaForward*:ToDevice*'
run_test methods_gpu 120 ./build/tests/test_methods --gtest_filter='CudaCalibration*'
run_test cli_gpu 150 ./build/tests/test_cli --gtest_filter='*Cuda*:*Device*'
grep -hE "^\[ cuda|Failure|FAILED  |differ|Expected|Which is|first differing" "$OUT"/test_*.log | head -60
stamp "quantize"
B=./build/bitfold
Q="quantize models/pyshakes-15m-hf --method rtn --w 4 --a 4 --act static-channel --calib data/demo/calib.txt --no-progress"
for dev in cpu cuda; do
  timeout 150 $B $Q --device $dev -o /tmp/w4a4-$dev > "$OUT/quantize_$dev.log" 2>&1
  echo "quantize --device $dev rc=$? $(tail -2 "$OUT/quantize_$dev.log" | tr '\n' ' ')" | tee -a "$OUT/steps.log"
done
stamp "ppl"
for ckpt in cpu cuda; do
  for dev in cpu cuda; do
    for threads in 1 16; do
      [[ $dev == cuda && $threads == 16 ]] && continue
      $B ppl /tmp/w4a4-$ckpt --text data/demo/eval.txt --device $dev --threads $threads > "$OUT/ppl_${ckpt}_${dev}_$threads.log" 2>&1
      echo "ppl of checkpoint calibrated on $ckpt, run on $dev ($threads threads): rc=$? $(grep -E 'ppl |tokens/s' "$OUT/ppl_${ckpt}_${dev}_$threads.log" | tr '\n' ' ')" | tee -a "$OUT/steps.log"
    done
  done
done
$B ppl models/pyshakes-15m-hf --text data/demo/eval.txt --device cuda > "$OUT/ppl_fp_cuda.log" 2>&1
echo "FP model on cuda: $(grep -E 'ppl |tokens/s' "$OUT/ppl_fp_cuda.log" | tr '\n' ' ')" | tee -a "$OUT/steps.log"
$B generate /tmp/w4a4-cpu -p "ROMEO:" -n 24 --temperature 0 --device cuda > "$OUT/generate_cuda.log" 2> "$OUT/generate_cuda.err"
$B generate /tmp/w4a4-cpu -p "ROMEO:" -n 24 --temperature 0 --device cpu > "$OUT/generate_cpu.log" 2> "$OUT/generate_cpu.err"
cmp -s "$OUT/generate_cuda.log" "$OUT/generate_cpu.log" && echo "generate: CPU and CUDA texts equal" | tee -a "$OUT/steps.log" ||
  { echo "generate: texts differ"; head -c 300 "$OUT/generate_cpu.log"; echo; head -c 300 "$OUT/generate_cuda.log"; echo; } | tee -a "$OUT/steps.log"
stamp "kernels (existing GPU tests)"
run_test kernels ${KERNELS_S:-90} ./build/tests/test_kernels --gtest_filter='Gpu*'
stamp "done"
