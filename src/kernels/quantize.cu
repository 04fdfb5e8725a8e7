// Fused producers: RMSNorm -> codes and SiLU(gate) * up -> codes, one CTA per token row.
#include <algorithm>

#include "kernels/device_common.cuh"
#include "kernels/layout.h"
#include "kernels/quantize.h"

namespace bitfold::kernels {

namespace {

template <bool F16>
__device__ __forceinline__ float load_act(const void* p, int64_t i) {
  if constexpr (F16)
    return __half2float(static_cast<const __half*>(p)[i]);
  else
    return static_cast<const float*>(p)[i];
}

__device__ __forceinline__ int round_clamp(float y, int lo, int hi) {
  const int r = __float2int_rn(y);  // round half to even
  return r < lo ? lo : (r > hi ? hi : r);
}

// Codes of one row, in warp-sized chunks of 32 consecutive k so that a ballot builds each
// plane word; chunks past d (up to the plane padding) are zero codes.
template <class F>
__device__ void emit_row(const CodesOut& out, int64_t row, int64_t m, int64_t d, F&& value_at) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  const int lo = -(1 << (out.bits - 1)), hi = (1 << (out.bits - 1)) - 1;
  const int64_t span = out.planes ? std::max<int64_t>(out.ld_words * 32, d) : d;
  for (int64_t c = warp; c * 32 < span; c += warps) {
    const int64_t k = c * 32 + lane;
    const int code = k < d ? round_clamp(value_at(k), lo, hi) : 0;
    if (out.i8 && k < d) out.i8[row * out.ld_i8 + k] = int8_t(code);
    if (out.i4) {
      const int next = __shfl_down_sync(0xFFFFFFFFu, code, 1);
      if ((lane & 1) == 0 && k < d) out.i4[row * out.ld_i4 + k / 2] = uint8_t((code & 0xF) | ((next & 0xF) << 4));
    }
    if (out.planes) {
      const uint32_t u = uint32_t(code);
      for (int i = 0; i < out.bits; ++i) {
        const uint32_t word = __ballot_sync(0xFFFFFFFFu, (u >> i) & 1u);
        if (lane == 0 && c < out.ld_words) out.planes[(int64_t(i) * m + row) * out.ld_words + c] = word;
      }
    }
  }
}

template <bool F16>
__global__ void rmsnorm_quantize_kernel(const void* __restrict__ x, int64_t ldx, int64_t m, int64_t d,
                                        const float* __restrict__ g, const float* __restrict__ beta, float eps,
                                        const CodesOut out) {
  __shared__ double partial[32];
  __shared__ float s_inv;
  const int64_t row = blockIdx.x;
  const int64_t base = row * ldx;
  double ss = 0;
  for (int64_t k = threadIdx.x; k < d; k += blockDim.x) {
    const double v = load_act<F16>(x, base + k);
    ss += v * v;
  }
  for (int off = 16; off > 0; off >>= 1) ss += __shfl_down_sync(0xFFFFFFFFu, ss, off);
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = ss;
  __syncthreads();
  if (threadIdx.x == 0) {
    double total = 0;
    for (int i = 0; i < int(blockDim.x >> 5); ++i) total += partial[i];
    const float ms = float(total / double(d));
    s_inv = __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(ms, eps)));
  }
  __syncthreads();
  const float inv = s_inv;
  emit_row(out, row, m, d, [&](int64_t k) {
    float y = __fmul_rn(__fmul_rn(load_act<F16>(x, base + k), inv), g[k]);
    if (beta) y = __fadd_rn(y, beta[k]);
    return y;
  });
}

template <bool F16>
__global__ void silu_mul_quantize_kernel(const void* __restrict__ gate, const void* __restrict__ up, int64_t ld,
                                         int64_t m, int64_t d, const float* __restrict__ inv_delta,
                                         const CodesOut out) {
  const int64_t row = blockIdx.x;
  const int64_t base = row * ld;
  emit_row(out, row, m, d, [&](int64_t k) {
    const float gv = load_act<F16>(gate, base + k);
    const float s = __fdiv_rn(gv, __fadd_rn(1.0f, expf(-gv)));
    return __fmul_rn(__fmul_rn(s, load_act<F16>(up, base + k)), inv_delta[k]);
  });
}

void check_out(const CodesOut& out, int64_t d, const char* who) {
  if (out.bits < 1 || out.bits > 8) detail::fail_rt("{}: {} bits is outside 1..8", who, out.bits);
  if (out.i4 && out.bits > 4) detail::fail_rt("{}: nibble output needs bits <= 4, got {}", who, out.bits);
  if (out.i4 && d % 2 != 0) detail::fail_rt("{}: nibble output needs an even row length, got {}", who, d);
  if (out.planes && out.ld_words < btc_act_ld_words(d))
    detail::fail_rt("{}: plane ld_words {} < {}", who, out.ld_words, btc_act_ld_words(d));
  if (!out.i8 && !out.i4 && !out.planes) detail::fail_rt("{}: no output given", who);
}

}  // namespace

void rmsnorm_quantize(const void* x, bool x_is_f16, int64_t ldx, int64_t m, int64_t d, const float* g,
                      const float* beta, float eps, const CodesOut& out, Stream stream) {
  check_out(out, d, "rmsnorm_quantize");
  if (m == 0) return;
  if (x_is_f16)
    rmsnorm_quantize_kernel<true><<<unsigned(m), 256, 0, stream>>>(x, ldx, m, d, g, beta, eps, out);
  else
    rmsnorm_quantize_kernel<false><<<unsigned(m), 256, 0, stream>>>(x, ldx, m, d, g, beta, eps, out);
  BITFOLD_CUDA_LAUNCH_CHECK();
}

void silu_mul_quantize(const void* gate, const void* up, bool is_f16, int64_t ld, int64_t m, int64_t d,
                       const float* inv_delta, const CodesOut& out, Stream stream) {
  check_out(out, d, "silu_mul_quantize");
  if (m == 0) return;
  if (is_f16)
    silu_mul_quantize_kernel<true><<<unsigned(m), 256, 0, stream>>>(gate, up, ld, m, d, inv_delta, out);
  else
    silu_mul_quantize_kernel<false><<<unsigned(m), 256, 0, stream>>>(gate, up, ld, m, d, inv_delta, out);
  BITFOLD_CUDA_LAUNCH_CHECK();
}

}  // namespace bitfold::kernels
