#pragma once
// The CUDA backend of ops.h on raw row-major device buffers (F32 unless stated). ops.cpp checks
// shapes, dtypes and devices, then calls these; nothing here re-checks. Everything runs on the
// default stream, so it is ordered with cudaMemcpy and with the other ops; a failed launch or
// CUDA call is a bitfold::Error naming the op. No fmt here: this header is read by nvcc.
//
// The integer engine (quant/quantized_linear.h) runs as the pieces at the end of this file:
// ops/cuda/quantized_linear.cpp strings them together (it reads quant:: types; this header does
// not).
#include <cstdint>

#include "core/dtype.h"

namespace bitfold::ops::cuda {

// y[T, N] = x[T, K] · w[N, K]ᵀ (+ bias[N] when bias != nullptr): cuBLAS SGEMM in plain F32
// (TF32 off), so results track the CPU backend within float rounding.
void linear(const float* x, const float* w, const float* bias, float* y, int64_t T, int64_t N,
            int64_t K);

// y[T, D] = x · rsqrt(mean(x²) + eps) ⊙ gamma, the mean of squares in double; y may alias x.
void rmsnorm(const float* x, const float* gamma, float eps, float* y, int64_t T, int64_t D);
// channels (may be null: identity) must hold values in [0, D): ops.cpp checks them on the host.
void rmsnorm_gather_bias(const float* x, const int32_t* channels, const float* gamma, const float* beta,
                         float eps, float* y, int64_t T, int64_t D, int64_t K);

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

// ---- The integer engine's pieces, bit-identical to the CPU (quant/int_codec.h, float_grid.h) ----

// Which step covers element (row, col) of a [rows, K] matrix (quant::QuantParams::index):
// One: 0; Row: row; RowGroup: row·(K/group) + col/group; Column: col; ColumnGroup: col/group.
enum class StepLayout : uint8_t { One, Row, RowGroup, Column, ColumnGroup };
struct StepIndex {
  StepLayout layout = StepLayout::One;
  int64_t group = 1;
  int64_t K = 0;
};

// One grid as plain data: clamp(round_half_even(x/Δ) + z) on integer grids, FloatGrid::encode
// on ExMy grids.
struct GridCodec {
  bool is_float = false;
  int qmin = 0, qmax = 0;  // integer grids
  int mantissa_bits = 0, bias = 0, max_magnitude_code = 0;  // float grids
  unsigned sign_mask = 0, nan_result = 0;
  double max_value = 0;
};

// quant::fit_params' scale rule (quantizer.h) as plain data.
struct ScaleRule {
  bool zero_point = false;
  bool pow2 = false;
  double clip = 1;
  double divisor = 1;  // FormatTraits::scale_divisor
  int qmin = 0, qmax = 0;
};

// Dynamic steps of x[T, K] for the row layouts (One, Row, RowGroup) into steps / zeros (zeros may
// be null for symmetric rules). Returns -1, the first row holding a non-finite value, or -2 when a
// step overflowed float — the two errors of quant::fit_params.
int64_t fit_dynamic_steps(const float* x, int64_t T, int64_t K, StepIndex index, ScaleRule rule,
                          float* steps, int32_t* zeros);

// a[t, j] = integers[code of x[t, j]] (− its zero-point when subtract_zero) as F32 or F64
// (a_f64); steps / zeros (zeros may be null) indexed by `index`; integers: 256 device doubles.
void quantize_to_integers(const float* x, int64_t T, int64_t K, GridCodec codec, StepIndex index,
                          const float* steps, const int32_t* zeros, const double* integers,
                          bool subtract_zero, void* a, bool a_f64);

// x[T, K] in place: Δ·(code − z), as quant::fake_quantize; `values`: the float grid's 256 values
// at step 1 (unused for integer grids).
struct GridValues {
  float value[256];
};
void fake_quantize(float* x, int64_t T, int64_t K, GridCodec codec, StepIndex index,
                   const float* steps, const int32_t* zeros, const GridValues& values);

// acc[b][T, N] = a[:, g·B : (g+1)·B] · w[:, g·B : (g+1)·B]ᵀ for g = g0 + b, b < count: cuBLAS
// SGEMM (TF32 off) or DGEMM on integer-valued operands of row stride K — exact under the layer's
// accumulation bound.
void integer_block_products(const void* a, const void* w, void* acc, bool f64, int64_t T,
                            int64_t N, int64_t K, int64_t B, int64_t g0, int64_t count);

// y[t, i] (+)= Σ over the count blocks from g0 of (float(acc)·sw[i·G + g])·sx + bias (bias after the
// last of all G blocks), two roundings per term in the CPU's order. sx: the dynamic steps indexed
// by sx_layout (One: 0, Row: t, RowGroup: t·G + g), or null (static activations).
void quantized_epilogue(const void* acc, bool f64, const float* sw, const float* sx,
                        StepLayout sx_layout, const float* bias, float* y, int64_t T, int64_t N,
                        int64_t G, int64_t g0, int64_t count);

}  // namespace bitfold::ops::cuda
