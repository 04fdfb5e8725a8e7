#pragma once
// q/k row orders for RoPE. llama2.c and Meta checkpoints rotate interleaved pairs (rows 2i and
// 2i+1 of a head); Hugging Face rotates halves (rows i and i + head_dim/2). bitfold uses the HF
// order everywhere, so llama2.c q/k weights are permuted once, on load.
#include "core/tensor.h"

namespace bitfold::model {

// [n_heads * head_dim, in] F32 rows in interleaved-pair order -> rotate-half order: within each
// head, new row i (< head_dim/2) is old row 2i and new row head_dim/2 + i is old row 2i + 1. The
// inverse of the permute in transformers' convert_llama_weights_to_hf.py. Returns a new tensor.
Tensor interleaved_to_rotate_half(const Tensor& w, int n_heads);
// The inverse permutation (rotate-half -> interleaved pairs).
Tensor rotate_half_to_interleaved(const Tensor& w, int n_heads);

}  // namespace bitfold::model
