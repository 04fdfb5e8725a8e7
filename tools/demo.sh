#!/usr/bin/env bash
# The main job on the bundled model: generate text with the FP32 reference, quantize it (W8A8 and
# W4A4, static activation steps folded into the weights; RTN and SmoothQuant for now), compare
# perplexities on the bundled eval text side by side, and generate with a quantized model.
# Quantized checkpoints go to $DEMO_OUT (default build/demo). A few minutes on 2 cores.
set -euo pipefail
bitfold=${1:-build/bitfold}
# Idle OpenMP threads sleep instead of spinning: on a machine whose cores are also busy with other
# work, spinning threads wait on descheduled ones and a 2-thread run can take 3x the 1-thread time
# (measured on the shared 2-vCPU machine: 11.9 s spinning vs 4.4 s passive for the same ppl).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
cd "$(dirname "$0")/.."
model=models/pyshakes-15m-hf
eval_text=data/demo/eval.txt
out=${DEMO_OUT:-build/demo}
calib=(--calib data/demo/calib.txt --calib-samples 32 --calib-len 256 --seed 0)
mkdir -p "$out"

echo "== bitfold generate ($model, FP32)"
"$bitfold" generate "$model" -p "ROMEO:" -n 96 --seed 7
echo

# name | flags
variants=(
  "W8A8 RTN static-channel|--method rtn --w 8 --a 8 --act static-channel"
  "W8A8 SmoothQuant static-tensor|--method smoothquant --w 8 --a 8 --act static-tensor"
  "W4A4 RTN static-channel|--method rtn --w 4 --a 4 --act static-channel"
  "W4A4 SmoothQuant dynamic-token|--method smoothquant --w 4 --a 4 --act dynamic-token"
)

dir_of() { echo "$out/$(echo "$1" | tr 'A-Z ' 'a-z-')"; }
ppl_of() { "$bitfold" ppl "$1" --text "$eval_text" | awk '/^ppl /{print $2}'; }

for v in "${variants[@]}"; do
  name=${v%%|*}
  flags=${v#*|}
  echo "== bitfold quantize: $name (calibration: data/demo/calib.txt)"
  # shellcheck disable=SC2086
  "$bitfold" quantize "$model" $flags "${calib[@]}" -o "$(dir_of "$name")" | grep -E "^(calibration|method|wrote)"
done
echo

echo "== perplexity on $eval_text"
fp=$(ppl_of "$model")
printf "| %-32s | %9s | %8s |\n|%s|%s|%s|\n" model ppl "vs FP32" "----------------------------------" "-----------" "----------"
printf "| %-32s | %9.4f | %8s |\n" "FP32" "$fp" ""
for v in "${variants[@]}"; do
  name=${v%%|*}
  q=$(ppl_of "$(dir_of "$name")")
  printf "| %-32s | %9.4f | %+7.2f%% |\n" "$name" "$q" "$(awk -v q="$q" -v f="$fp" 'BEGIN{print (q/f-1)*100}')"
done
echo

sample="W4A4 RTN static-channel"
echo "== bitfold generate ($sample, fake-quant CPU engine)"
"$bitfold" generate "$(dir_of "$sample")" -p "ROMEO:" -n 96 --seed 7
