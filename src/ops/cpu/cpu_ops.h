#pragma once
// The CPU backend of ops.h on raw row-major F32 buffers. ops.cpp checks shapes, dtypes and
// devices, then calls these; nothing here re-checks.
#include <cstdint>

#include "core/dtype.h"
#include "core/tensor.h"

namespace bitfold::quant {
class QuantizedLinear;
}

namespace bitfold::ops::cpu {

// y[T, N] = x[T, K] · w[N, K]ᵀ (+ bias[N] when bias != nullptr).
void linear(const float* x, const float* w, const float* bias, float* y, int64_t T, int64_t N,
            int64_t K);

// y[T, N] = the integer engine's output for x [T, K] (quant/quantized_linear.h).
void quantized_linear(const Tensor& x, const quant::QuantizedLinear& layer, float* y);

// y[T, D] = x · rsqrt(mean(x²) + eps) ⊙ gamma; y may alias x.
void rmsnorm(const float* x, const float* gamma, float eps, float* y, int64_t T, int64_t D);

// Rotate-half RoPE in place on x[T, width] (width a multiple of head_dim); cos/sin are
// [>= start_pos + T, head_dim / 2].
void rope(float* x, const float* cos, const float* sin, int64_t T, int64_t width, int head_dim,
          int start_pos);

// Causal GQA attention; q/out [T, n_heads*hd], k/v [start_pos + T (at least), n_kv_heads*hd].
void attention(const float* q, const float* k, const float* v, float* out, int64_t T, int n_heads,
               int n_kv_heads, int head_dim, int start_pos);

// out = SiLU(gate) ⊙ up over n elements; out may alias either input.
void silu_mul(const float* gate, const float* up, float* out, int64_t n);

// x += y over n elements.
void add_inplace(float* x, const float* y, int64_t n);

// out[t, :] = F32(table[ids[t], :]) for a [*, D] table of dtype F32, F16 or BF16.
void embedding(const void* table, DType dtype, int64_t D, const int32_t* ids, int64_t T,
               float* out);

// nll[t] = logsumexp(logits[t]) - logits[t, targets[t]], in double.
void token_nll(const float* logits, const int32_t* targets, int64_t T, int64_t V, double* nll);

}  // namespace bitfold::ops::cpu
