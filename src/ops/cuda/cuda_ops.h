#pragma once
// The CUDA backend of ops.h on raw row-major device buffers (F32 unless stated). ops.cpp checks
// shapes, dtypes and devices, then calls these; nothing here re-checks. Everything runs on the
// default stream, so it is ordered with cudaMemcpy and with the other ops; a failed launch or
// CUDA call is a bitfold::Error naming the op. No fmt here: this header is read by nvcc.
//
// The quantized linear of the quant-runtime branch gets its CUDA version beside `linear` below:
// a `linear_quantized` over the packed weights that calls kernels::gemm_quantized
// (kernels/dispatch.h), which already picks the measured fastest route per shape.
#include <cstdint>

#include "core/dtype.h"

namespace bitfold::ops::cuda {

// y[T, N] = x[T, K] · w[N, K]ᵀ (+ bias[N] when bias != nullptr): cuBLAS SGEMM in plain F32
// (TF32 off), so results track the CPU backend within float rounding.
void linear(const float* x, const float* w, const float* bias, float* y, int64_t T, int64_t N,
            int64_t K);

// y[T, D] = x · rsqrt(mean(x²) + eps) ⊙ gamma, the mean of squares in double; y may alias x.
void rmsnorm(const float* x, const float* gamma, float eps, float* y, int64_t T, int64_t D);

// Rotate-half RoPE in place on x[T, width]; cos/sin are device tables [>= start_pos + T, hd / 2].
void rope(float* x, const float* cos, const float* sin, int64_t T, int64_t width, int head_dim,
          int start_pos);

// Causal GQA attention; q/out [T, n_heads*hd], k/v [start_pos + T (at least), n_kv_heads*hd].
// One CTA per (head, query); the query's scores live in shared memory (any context up to ~50k
// positions on an H200; beyond that a bitfold::Error).
void attention(const float* q, const float* k, const float* v, float* out, int64_t T, int n_heads,
               int n_kv_heads, int head_dim, int start_pos);

// out = SiLU(gate) ⊙ up over n elements; out may alias either input.
void silu_mul(const float* gate, const float* up, float* out, int64_t n);

// x += y over n elements.
void add_inplace(float* x, const float* y, int64_t n);

// out[t, :] = F32(table[ids[t], :]) for a device table [*, D] of dtype F32, F16 or BF16; `ids` are
// on the host (already range-checked) and copied over here.
void embedding(const void* table, DType dtype, int64_t D, const int32_t* ids, int64_t T,
               float* out);

// nll[t] = logsumexp(logits[t]) - logits[t, targets[t]] in double; targets and nll on the host.
void token_nll(const float* logits, const int32_t* targets, int64_t T, int64_t V, double* nll);

}  // namespace bitfold::ops::cuda
