#pragma once
// The compute API the model is written on. Every op takes Tensors that all live on one device
// and dispatches to the CPU backend (ops/cpu, OpenBLAS + OpenMP) or the CUDA backend (ops/cuda),
// so calibration and fake-quant evaluation run the same model code on either. Shapes are
// row-major; "T" is the number of tokens in the call. Outputs are preallocated by the caller.
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace bitfold::ops {

// y[T, N] = x[T, K] · w[N, K]ᵀ (+ bias[N] when defined). F32.
void linear(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& y);

// y[T, D] = x / sqrt(mean(x²) + eps) ⊙ gamma[D], row by row.
void rmsnorm(const Tensor& x, const Tensor& gamma, float eps, Tensor& y);

// Rotary position embedding in place, Hugging Face "rotate-half" layout: within each head of
// `head_dim`, element i pairs with i + head_dim/2. x is [T, n_heads * head_dim]; token t sits at
// position start_pos + t.
void rope(Tensor& x, int head_dim, int start_pos, float theta);

// Causal grouped-query attention of T new queries against a KV cache.
// q [T, n_heads*hd]; k_cache, v_cache [>= start_pos+T, n_kv_heads*hd] hold every position up to
// and including the new tokens; out [T, n_heads*hd]. Query t attends to positions 0..start_pos+t.
void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, int n_heads,
               int n_kv_heads, int head_dim, int start_pos, Tensor& out);

// out = SiLU(gate) ⊙ up, elementwise.
void silu_mul(const Tensor& gate, const Tensor& up, Tensor& out);

// x += y, elementwise.
void add_inplace(Tensor& x, const Tensor& y);

// out[T, D] = table[ids[t], :]; table may be F32, F16 or BF16 (CPU), out is F32.
void embedding(const Tensor& table, const std::vector<int32_t>& ids, Tensor& out);

}  // namespace bitfold::ops
