#pragma once
// Fused producers of activation codes (static per-channel quantization folded ahead of time):
// one pass from the float activations to q-bit codes in the layout the consumer GEMM reads.
// Rounding is round-half-to-even, then clamp to [-2^(q-1), 2^(q-1) - 1]. CPU references with
// the same float operation order: layout.h (rmsnorm_quantize_ref, silu_mul_quantize_ref).
#include <cstdint>

#include "kernels/gemm.h"

namespace bitfold::kernels {

// Where the codes go; any non-null combination is written in the same pass.
struct CodesOut {
  int bits = 8;                 // q, 1..8
  int8_t* i8 = nullptr;         // [m][ld_i8], one code per byte (route a: gemm_decode/wgmma/lt)
  int64_t ld_i8 = 0;
  uint8_t* i4 = nullptr;        // [m][ld_i4] bytes, two codes per byte, low nibble = even k (q <= 4)
  int64_t ld_i4 = 0;
  uint32_t* planes = nullptr;   // [bits][m][ld_words] bit-planes (route b: gemm_btc); words past
  int64_t ld_words = 0;         // the data are written as zero up to ld_words
};

// codes[m][k] = Q(RMSNorm(x)[k] * g[k] + beta[k]), g = gamma / delta folded ahead, beta optional
// (the per-channel "norm bias" that carries an equivalent shift). x is FP32 or FP16 [m][ldx].
// inv_rms = 1 / sqrtf(float(sum_k double(x_k)^2 / d) + eps), y = (x * inv_rms) * g (+ beta).
void rmsnorm_quantize(const void* x, bool x_is_f16, int64_t ldx, int64_t m, int64_t d, const float* g,
                      const float* beta, float eps, const CodesOut& out, Stream stream);

// codes[m][k] = Q((SiLU(gate[k]) * up[k]) * inv_delta[k]) for down_proj. FP32 or FP16 inputs.
void silu_mul_quantize(const void* gate, const void* up, bool is_f16, int64_t ld, int64_t m, int64_t d,
                       const float* inv_delta, const CodesOut& out, Stream stream);

}  // namespace bitfold::kernels
