#!/usr/bin/env bash
# The main job on the bundled model: generate text and measure perplexity (FP32 reference).
# Quantization steps are added as the quantization issues land.
set -euo pipefail
bitfold=${1:-build/bitfold}
cd "$(dirname "$0")/.."
model=models/pyshakes-15m-hf
echo "== bitfold generate ($model, FP32)"
"$bitfold" generate "$model" -p "ROMEO:" -n 96 --seed 7
echo
echo "== bitfold ppl ($model on data/demo/eval.txt)"
"$bitfold" ppl "$model" --text data/demo/eval.txt
