#!/usr/bin/env bash
# Quick, deliberate check of the equivalent-transform methods against the static baselines
# (docs/methods.md, "Measured: each method against the static baselines"): for every model and
# format, quantize with each method (static per-channel activations) and score the checkpoint on
# a few windows of the test text, with its KL divergence from the FP model. Prints one markdown row
# per run as it finishes. Slow on 2 shared cores: about 1.5 min per 15M run, 4 min per 57M run.
#
#   tools/method-quality.sh [BITFOLD] [MODEL_DIR ...]
#   env: BITS="8 6 4"  SHARED=../shared/data  CALIB_N=32  CALIB_L=512  WINDOWS=8  OUT=build/method-quality
set -euo pipefail
bitfold=$(realpath "${1:-build/bitfold}")
shift || true
cd "$(dirname "$0")/.."
shared=${SHARED:-../shared/data}
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(models/pyshakes-15m-hf "$shared/models/pyshakes-57m-hf")
out=${OUT:-build/method-quality}
mkdir -p "$out"
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

# label | flags after --w B --a B --act static-channel
rows=(
  "RTN static|--method rtn"
  "SmoothQuant static|--method smoothquant"
  "OS+ static|--method osplus"
  "OutlierTune static|--method outliertune --param variant=static"
  "OutlierTune faithful|--method outliertune --param variant=faithful"
  "MergeQuant static|--method mergequant"
)

echo "| model | format | method | ppl | KL | top-1 | calib |"
echo "|---|---|---|---:|---:|---:|---:|"
for model in "${models[@]}"; do
  name=$(basename "$model")
  for b in ${BITS:-8 6 4}; do
    for row in "${rows[@]}"; do
      label=${row%%|*}
      flags="${row#*|} --w $b --a $b --act static-channel"
      dir="$out/$name-W${b}A${b}-$(echo "$label" | tr 'A-Z +' 'a-z-p')"
      start=$(date +%s)
      # shellcheck disable=SC2086
      "$bitfold" quantize "$model" $flags --calib "$shared/text/train.txt" \
        --calib-samples "${CALIB_N:-32}" --calib-len "${CALIB_L:-512}" --seed 0 -o "$dir" \
        --threads 1 --no-progress > "$dir.log"
      seconds=$(( $(date +%s) - start ))
      "$bitfold" ppl "$dir" --text "$shared/text/test.txt" --max-windows "${WINDOWS:-8}" \
        --kl-base "$model" --threads 1 --json "$dir.json" >> "$dir.log"
      python3 - "$dir.json" "$name" "W${b}A${b}" "$label" "$seconds" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(f"| {sys.argv[2]} | {sys.argv[3]} | {sys.argv[4]} | {d['ppl']:.3f} | {d['kl']['mean']:.4f} | "
      f"{100 * d['kl']['top1_agreement']:.1f} % | {sys.argv[5]} s |")
PY
      rm -rf "$dir"
    done
  done
done
