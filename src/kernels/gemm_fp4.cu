// FP4 (E2M1) weights x FP8 (E4M3) activations (LLM-FP4 recipes): the CUDA-core GEMV for decode
// and the E2M1 -> E4M3 pre-pass + cuBLASLt FP8 route for larger M. Layout and reference:
// kernels/fp4_layout.h.
#include <cuda_fp8.h>

#include <algorithm>

#include "kernels/device_common.cuh"
#include "kernels/fp4_layout.h"
#include "kernels/gemm_context.h"

namespace bitfold::kernels {

namespace detail {
namespace {

// E2M1 decode by bit moves (no table, no conversion instruction): with the code's exponent bits
// e1 e0 in float bits 24..23, its mantissa bit in bit 22 and its sign in bit 31, the float is
// value * 2^-126 exactly — exponent field e > 0 gives 2^(e-127) (1 + m/2) = 2^-126 * 2^(e-1) (1 + m/2),
// e = 0 the denormal m * 2^-1 * 2^-126 = 2^-126 * (0.5 m). FFMA takes denormal operands at full
// speed (no -ftz here), and the activations are staged times 2^kXExp so that every product
// value * x * 2^(kXExp - 126) is a normal float: exact (2 + 4 significant bits).
constexpr float kXScale = 0x1p100f;   // 2^kXExp, kXExp = 100
constexpr float kAccScale = 0x1p26f;  // 2^(126 - kXExp): the sum back to value units, exactly

template <int I>  // nibble I of the word (code k = 8 j + I of word j)
__device__ __forceinline__ float e2m1_scaled(uint32_t w) {
  constexpr int kMag = 22 - 4 * I;   // bits 4I .. 4I+2 -> 22 .. 24
  constexpr int kSign = 28 - 4 * I;  // bit 4I+3 -> 31
  const uint32_t mag = kMag >= 0 ? (w << (kMag >= 0 ? kMag : 0)) : (w >> (kMag < 0 ? -kMag : 0));
  const uint32_t sign = w << kSign;
  return __uint_as_float((mag & 0x01C00000u) | (sign & 0x80000000u));
}


// y = (acc * a_scale) * w_scale[n] (* x_scale[m]) + bias[n] + residual[m, n], in this order.
__device__ __forceinline__ void store_fp4_out(const Epilogue& e, int64_t m, int64_t n, float acc, float a_scale) {
  float v = acc * a_scale;
  v *= e.w_scale[n];
  if (e.x_scale) v *= e.x_scale[m];
  if (e.bias) v += e.bias[n];
  if (e.residual) v += __half2float(reinterpret_cast<const __half*>(e.residual)[m * e.ld_residual + n]);
  if (e.y_f32) e.y_f32[m * e.ld_f32 + n] = v;
  if (e.y_f16) reinterpret_cast<__half*>(e.y_f16)[m * e.ld_f16 + n] = __float2half_rn(v);
}

struct Fp4GemvParams {
  const uint8_t* w;
  int64_t row_bytes;
  int64_t n;
  int k;
  int kp;          // K padded to 32 (the row's codes)
  int chunk;       // codes per activation chunk (multiple of 1024)
  int chunks;
  int row_groups;  // groups of kRowsPerBlock rows
  const uint8_t* x;
  int64_t ldx;
  int m;
  float a_scale;
  Epilogue epi;
};

// Per M tile: 8 warps, R = 2 rows per warp, 4 at M = 1 (one activation read from shared memory serves them),
// a lane multiplies 32 consecutive codes (one 16-byte load) per row and warp step of 1024 codes.
// Activations live in shared memory as floats * 2^kXExp, 32 KB per chunk: 8192 / MT codes.
template <int MT, bool kInt = false>
struct Fp4GemvConfig {
  static constexpr int kThreads = 256;
  static constexpr int kWarps = kThreads / 32;
  static constexpr int kRows = MT == 1 ? 4 : 2;  // M = 1: four rows, four 16-byte loads per step in flight
  static constexpr int kRowsPerBlock = kWarps * kRows;
  static constexpr int kChunk = 8192 / MT;
  // FP32 path: floats * 2^kXExp; integer path (E2M1 activations): int8 2·x, a quarter of the bytes.
  static constexpr int kStageBytes = MT * kChunk * (kInt ? 1 : 4);
  // Registers per thread 85 (M = 1: four rows' loads) / 64 / 85 / 128: the M-tile's accumulators and activation float4s fit.
  static constexpr int kMinBlocks = MT == 2 ? 4 : (MT <= 4 ? 3 : 2);
};

// Staged code c of the chunk sits at float index swizzle(c): the lanes of a warp read float4 t of
// their own 32-code segment s at the same time, so float4 t of segment s goes to slot t ^ (s & 7):
// the 8 lanes of a quarter warp then hit 8 different 16-byte bank groups.
__device__ __forceinline__ int swizzle(int c) {
  const int s = c >> 5, t = (c >> 2) & 7;
  return (s << 5) | ((t ^ (s & 7)) << 2) | (c & 3);
}

// Integer path. Four E2M1 codes (nibbles in bits 0..15: magnitude index in bits 0..2, sign in bit
// 3) -> four int8 2·v, v in {0, 0.5, 1, 1.5, 2, 3, 4, 6}: one byte permute picks the positive
// values, one the negative ones, a third takes each byte from one or the other by its sign.
__device__ __forceinline__ int e2m1x4_doubled(uint32_t nibbles) {
  constexpr uint32_t kPosLo = 0x03020100u, kPosHi = 0x0C080604u;  // 0 1 2 3 | 4 6 8 12
  constexpr uint32_t kNegLo = 0xFDFEFF00u, kNegHi = 0xF4F8FAFCu;  // their negatives as int8
  const uint32_t index = nibbles & 0x7777u;
  const uint32_t pos = __byte_perm(kPosLo, kPosHi, index);
  const uint32_t neg = __byte_perm(kNegLo, kNegHi, index);
  return int(__byte_perm(pos, neg, 0x3210u | ((nibbles >> 1) & 0x4444u)));  // byte i from neg when sign i
}

// Staged int8 activations: a lane's 32-code segment s is two 16-byte halves; half h sits at
// h ^ ((s >> 2) & 1), so that the 8 lanes of a quarter warp reading half h hit 8 bank groups.
__device__ __forceinline__ int int_half_offset(int segment, int half) {
  return segment * 32 + 16 * (half ^ ((segment >> 2) & 1));
}

template <int MT, bool kInt>
__global__ void __launch_bounds__(Fp4GemvConfig<MT, kInt>::kThreads, Fp4GemvConfig<MT, kInt>::kMinBlocks)
    fp4_gemv_kernel(const Fp4GemvParams p) {
  using Cfg = Fp4GemvConfig<MT, kInt>;
  constexpr int R = Cfg::kRows;
  extern __shared__ __align__(16) float xs[];  // [MT][kChunk], swizzled (kInt: int8 [MT][kChunk])
  int8_t* const xs8 = reinterpret_cast<int8_t*>(xs);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;

  grid_dependency_wait();  // activations and outputs belong to the stream order from here on
  auto stage = [&](int chunk_index) {
    const int k0 = chunk_index * p.chunk;
    // 16 codes per thread and pass: one 16-byte load when aligned and inside K.
    const int groups = MT * (p.chunk / 16);
    for (int g = threadIdx.x; g < groups; g += blockDim.x) {
      const int m = g / (p.chunk / 16), c0 = 16 * (g - m * (p.chunk / 16));
      const int k = k0 + c0;
      uint32_t b[4] = {0, 0, 0, 0};
      if (m < p.m && k < p.k) {
        const uint8_t* src = p.x + m * p.ldx + k;
        if (k + 16 <= p.k) {
          const uint4 v = *reinterpret_cast<const uint4*>(src);
          b[0] = v.x, b[1] = v.y, b[2] = v.z, b[3] = v.w;
        } else {
          for (int t = 0; t < 16 && k + t < p.k; ++t) b[t / 4] |= uint32_t(src[t]) << (8 * (t % 4));
        }
      }
      if constexpr (kInt) {
        uint32_t q[4] = {0, 0, 0, 0};
#pragma unroll
        for (int t = 0; t < 16; ++t) {
          const __half_raw h = __nv_cvt_fp8_to_halfraw(__nv_fp8_storage_t((b[t / 4] >> (8 * (t % 4))) & 0xFF), __NV_E4M3);
          const int v = __float2int_rn(2.0f * __half2float(__half(h)));  // exact for E2M1 values
          q[t / 4] |= uint32_t(uint8_t(int8_t(v))) << (8 * (t % 4));
        }
        *reinterpret_cast<uint4*>(xs8 + m * p.chunk + int_half_offset(c0 >> 5, (c0 >> 4) & 1)) =
            make_uint4(q[0], q[1], q[2], q[3]);
      } else {
        float* dst = xs + m * p.chunk;
#pragma unroll
        for (int t = 0; t < 16; ++t) {
          const __half_raw h = __nv_cvt_fp8_to_halfraw(__nv_fp8_storage_t((b[t / 4] >> (8 * (t % 4))) & 0xFF), __NV_E4M3);
          dst[swizzle(c0 + t)] = __half2float(__half(h)) * kXScale;
        }
      }
    }
  };
  if (p.chunks == 1) {
    stage(0);
    __syncthreads();
  }
  grid_launch_dependents();

  for (int rg = blockIdx.x; rg < p.row_groups; rg += gridDim.x) {
    const int64_t row0 = int64_t(rg) * Cfg::kRowsPerBlock + warp * R;
    float acc[R][MT];
    int iacc[R][MT];  // integer path: the exact sum of (2 w)(2 x)
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int m = 0; m < MT; ++m) acc[r][m] = 0.0f, iacc[r][m] = 0;
    for (int ci = 0; ci < p.chunks; ++ci) {
      if (p.chunks > 1) {
        __syncthreads();  // the previous chunk is no longer read
        stage(ci);
        __syncthreads();
      }
      const int k0 = ci * p.chunk;
      const int steps = (std::min(p.kp - k0, p.chunk) + 1023) / 1024;
      auto load = [&](int s, uint4 (&w)[R]) {
        const int c = k0 + s * 1024 + 32 * lane;  // this lane's first code
#pragma unroll
        for (int r = 0; r < R; ++r) {
          const bool ok = row0 + r < p.n && c < p.kp;
          w[r] = ok ? ldg_stream16(p.w + (row0 + r) * p.row_bytes + c / 2) : make_uint4(0, 0, 0, 0);
        }
      };
      uint4 cur[R], nxt[R];
      load(0, cur);
      for (int s = 0; s < steps; ++s) {
        if (s + 1 < steps) load(s + 1, nxt);
        if constexpr (kInt) {
          const int segment = s * 32 + lane;
          uint4 xa[MT], xb[MT];  // this lane's 32 activation bytes per row m
#pragma unroll
          for (int m = 0; m < MT; ++m) {
            xa[m] = *reinterpret_cast<const uint4*>(xs8 + m * p.chunk + int_half_offset(segment, 0));
            xb[m] = *reinterpret_cast<const uint4*>(xs8 + m * p.chunk + int_half_offset(segment, 1));
          }
#pragma unroll
          for (int r = 0; r < R; ++r) {
#pragma unroll
            for (int j = 0; j < 4; ++j) {  // word j: codes 8 j .. 8 j + 7 of the segment
              const uint32_t w = j == 0 ? cur[r].x : j == 1 ? cur[r].y : j == 2 ? cur[r].z : cur[r].w;
              const int lo = e2m1x4_doubled(w & 0xFFFFu), hi = e2m1x4_doubled(w >> 16);
#pragma unroll
              for (int m = 0; m < MT; ++m) {
                const uint4& h = j < 2 ? xa[m] : xb[m];
                const int x_lo = int(j % 2 == 0 ? h.x : h.z), x_hi = int(j % 2 == 0 ? h.y : h.w);
                iacc[r][m] = __dp4a(hi, x_hi, __dp4a(lo, x_lo, iacc[r][m]));
              }
            }
          }
        } else {
          const float* xl = xs + s * 1024 + 32 * lane;  // this lane's segment (swizzled inside)
          const int sw = lane & 7;                      // segment index s * 32 + lane: & 7 = lane & 7
#pragma unroll
          for (int j = 0; j < 4; ++j) {  // word j: codes 8 j .. 8 j + 7 of the segment
            float4 xa[MT], xb[MT];
#pragma unroll
            for (int m = 0; m < MT; ++m) {
              xa[m] = *reinterpret_cast<const float4*>(xl + m * p.chunk + (((2 * j) ^ sw) << 2));
              xb[m] = *reinterpret_cast<const float4*>(xl + m * p.chunk + (((2 * j + 1) ^ sw) << 2));
            }
#pragma unroll
            for (int r = 0; r < R; ++r) {
              const uint32_t w = j == 0 ? cur[r].x : j == 1 ? cur[r].y : j == 2 ? cur[r].z : cur[r].w;
              const float w0 = e2m1_scaled<0>(w), w1 = e2m1_scaled<1>(w), w2 = e2m1_scaled<2>(w), w3 = e2m1_scaled<3>(w);
              const float w4 = e2m1_scaled<4>(w), w5 = e2m1_scaled<5>(w), w6 = e2m1_scaled<6>(w), w7 = e2m1_scaled<7>(w);
#pragma unroll
              for (int m = 0; m < MT; ++m) {
                float a = acc[r][m];
                a = fmaf(w0, xa[m].x, a);
                a = fmaf(w1, xa[m].y, a);
                a = fmaf(w2, xa[m].z, a);
                a = fmaf(w3, xa[m].w, a);
                a = fmaf(w4, xb[m].x, a);
                a = fmaf(w5, xb[m].y, a);
                a = fmaf(w6, xb[m].z, a);
                a = fmaf(w7, xb[m].w, a);
                acc[r][m] = a;
              }
            }
          }
        }
#pragma unroll
        for (int r = 0; r < R; ++r) cur[r] = nxt[r];
      }
    }
    // Warp sums; lane r * MT + m writes output (m, row0 + r).
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int m = 0; m < MT; ++m)
#pragma unroll
        for (int d = 16; d >= 1; d >>= 1) {
          if constexpr (kInt)
            iacc[r][m] += __shfl_xor_sync(0xffffffffu, iacc[r][m], d);
          else
            acc[r][m] += __shfl_xor_sync(0xffffffffu, acc[r][m], d);
        }
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int m = 0; m < MT; ++m)
        if (lane == r * MT + m && m < p.m && row0 + r < p.n)
          store_fp4_out(p.epi, m, row0 + r, kInt ? 0.25f * float(iacc[r][m]) : acc[r][m] * kAccScale, p.a_scale);
  }
}

template <int MT, bool kInt>
void launch_fp4_gemv(const Fp4Weight& w, const Fp8Act& x, const Epilogue& epi, Stream stream, const GemvOptions& opt) {
  using Cfg = Fp4GemvConfig<MT, kInt>;
  const Fp4Layout lay{w.n, w.k};
  Fp4GemvParams p{};
  p.w = w.data;
  p.row_bytes = lay.row_bytes();
  p.n = w.n;
  p.k = int(w.k);
  p.kp = int(lay.k_padded());
  p.chunk = Cfg::kChunk;
  p.chunks = int(ceil_div(p.kp, p.chunk));
  p.row_groups = int(ceil_div(w.n, Cfg::kRowsPerBlock));
  p.x = x.data;
  p.ldx = x.ld;
  p.m = int(x.m);
  p.a_scale = x.a_scale;
  p.epi = epi;
  auto* kernel = fp4_gemv_kernel<MT, kInt>;
  static int per_sm = [&] {
    BITFOLD_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Cfg::kStageBytes));
    int v = 0;
    BITFOLD_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&v, kernel, Cfg::kThreads, Cfg::kStageBytes));
    return std::max(v, 1);
  }();
  // Persistent blocks, one wave: each stages the activations once (one chunk) and walks row groups.
  const int blocks = int(std::min<int64_t>(p.row_groups, int64_t(per_sm) * sm_count()));
  launch_maybe_pdl(kernel, unsigned(blocks), Cfg::kThreads, size_t(Cfg::kStageBytes), stream, opt.pdl, p);
}

// E2M1 -> E4M3 bytes: one thread per 8 codes. The magnitudes of codes 0..7 as E4M3 bytes
// (0, 0.5, 1, 1.5, 2, 3, 4, 6 -> 00 30 38 3C 40 44 48 4C), picked with one byte permute per four
// codes; the sign bit moves from nibble bit 3 to byte bit 7.
__global__ void unpack_fp4_kernel(const uint8_t* __restrict__ w, int64_t row_bytes, int64_t n, int64_t k,
                                  int64_t kp, uint8_t* __restrict__ out, int64_t ldw) {
  const int64_t per_row = ceil_div(ldw, 8);
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= n * per_row) return;
  const int64_t row = idx / per_row, col = 8 * (idx % per_row);
  const uint32_t word = col < kp ? *reinterpret_cast<const uint32_t*>(w + row * row_bytes + col / 2) : 0u;
  constexpr uint32_t kLo = 0x3C383000u, kHi = 0x4C484440u;
  auto four = [&](uint32_t nibbles) {  // four codes in bits 0..15
    const uint32_t mag = __byte_perm(kLo, kHi, nibbles & 0x7777u);
    const uint32_t sign = ((nibbles & 0x8u) << 4) | ((nibbles & 0x80u) << 8) | ((nibbles & 0x800u) << 12) |
                          ((nibbles & 0x8000u) << 16);
    return mag | sign;
  };
  uint32_t v[2] = {four(word & 0xFFFFu), four(word >> 16)};
  for (int i = 0; i < 8; ++i)  // zero past K
    if (col + i >= k) v[i / 4] &= ~(0xFFu << (8 * (i % 4)));
  uint8_t* dst = out + row * ldw + col;
  if (col + 8 <= ldw && ldw % 8 == 0) {
    *reinterpret_cast<uint2*>(dst) = make_uint2(v[0], v[1]);
  } else {
    for (int i = 0; i < 8 && col + i < ldw; ++i) dst[i] = uint8_t(v[i / 4] >> (8 * (i % 4)));
  }
}

// FP32 accumulators [m][n] -> the FP4 epilogue, one thread per output.
__global__ void fp4_epilogue_kernel(const float* __restrict__ acc, int64_t ld_acc, int64_t m, int64_t n, float a_scale,
                                    const Epilogue e) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= m * n) return;
  const int64_t row = idx / n, col = idx % n;
  store_fp4_out(e, row, col, acc[row * ld_acc + col], a_scale);
}

unsigned grid_for(int64_t threads, int per_block) {
  const int64_t b = ceil_div(threads, per_block);
  BITFOLD_CU_CHECK(b < (int64_t(1) << 31), "grid too large");
  return unsigned(std::max<int64_t>(1, b));
}


}  // namespace

void check_fp4_operands(const char* who, const Fp4Weight& w, const Fp8Act& x, const Epilogue& epi) {
  if (w.k != x.k) fail_rt("{}: weight K {} != activation K {}", who, w.k, x.k);
  if (x.ld % 16 != 0 || reinterpret_cast<uintptr_t>(x.data) % 16 != 0)
    fail_rt("{}: activations must be 16-byte aligned with a leading dimension that is a multiple of 16 (ld {})", who, x.ld);
  if (reinterpret_cast<uintptr_t>(w.data) % 16 != 0) fail_rt("{}: weights must be 16-byte aligned", who);
  if (epi.y_i32) fail_rt("{}: FP4 routes have no integer accumulator (epi.y_i32 must be null)", who);
  if (!epi.w_scale) fail_rt("{}: w_scale is required", who);
}

}  // namespace detail

void gemm_fp4_gemv(const Fp4Weight& w, const Fp8Act& x, const Epilogue& epi, Stream stream, const GemvOptions& opt) {
  detail::check_fp4_operands("gemm_fp4_gemv", w, x, epi);
  if (x.m > 8) detail::fail_rt("gemm_fp4_gemv: M = {} > 8 (the FP4 GEMV is compiled for up to 8 activation rows)", x.m);
  if (w.k >= (int64_t(1) << 30)) detail::fail_rt("gemm_fp4_gemv: K = {} too large", w.k);
  if (x.m <= 0 || w.n <= 0) return;
  if (x.e2m1 && w.k > int64_t(INT32_MAX) / 144)  // |2 w · 2 x| <= 144 per code
    detail::fail_rt("gemm_fp4_gemv: K = {} too large for the int32 sum of the E2M1 path", w.k);
  auto launch = [&]<bool kInt>() {
    if (x.m == 1)
      detail::launch_fp4_gemv<1, kInt>(w, x, epi, stream, opt);
    else if (x.m == 2)
      detail::launch_fp4_gemv<2, kInt>(w, x, epi, stream, opt);
    else if (x.m <= 4)
      detail::launch_fp4_gemv<4, kInt>(w, x, epi, stream, opt);
    else
      detail::launch_fp4_gemv<8, kInt>(w, x, epi, stream, opt);
  };
  if (x.e2m1)
    launch.template operator()<true>();
  else
    launch.template operator()<false>();
}

void unpack_fp4_device(const Fp4Weight& w, uint8_t* out, int64_t ldw, Stream stream) {
  if (ldw % 4 != 0 || ldw < w.k) detail::fail_rt("unpack_fp4_device: ldw {} must be >= K {} and a multiple of 4", ldw, w.k);
  if (w.n <= 0 || ldw == 0) return;
  const Fp4Layout lay{w.n, w.k};
  detail::unpack_fp4_kernel<<<detail::grid_for(w.n * ceil_div(ldw, 8), 256), 256, 0, stream>>>(
      w.data, lay.row_bytes(), w.n, w.k, lay.k_padded(), out, ldw);
  BITFOLD_CUDA_LAUNCH_CHECK();
}

void gemm_fp4_lt(GemmContext& ctx, const Fp4Weight& w, const Fp8Act& x, const Epilogue& epi, Stream stream) {
  detail::check_fp4_operands("gemm_fp4_lt", w, x, epi);
  if (w.k % 16 != 0) detail::fail_rt("gemm_fp4_lt: K = {} must be a multiple of 16 (cuBLASLt FP8)", w.k);
  if (x.m <= 0 || w.n <= 0) return;
  auto& c = ctx.impl();
  // cuBLASLt FP8 on the H200 rejects N % 16 != 0 (status 15): the E4M3 rows are padded with zero
  // rows to n16 and the GEMM runs at n16; the epilogue reads the first N columns.
  const int64_t n16 = round_up(w.n, 16);
  auto* rows = static_cast<uint8_t*>(c.ensure(c.scratch_fp8, c.scratch_fp8_bytes, size_t(n16 * w.k)));
  auto* acc = static_cast<float*>(c.ensure(c.scratch_f32, c.scratch_f32_bytes, size_t(x.m * n16) * sizeof(float)));
  unpack_fp4_device(w, rows, w.k, stream);
  if (n16 > w.n) BITFOLD_CUDA_CHECK(cudaMemsetAsync(rows + w.n * w.k, 0, size_t((n16 - w.n) * w.k), stream));
  cublaslt_fp8_f32(ctx, x.m, n16, w.k, x.data, x.ld, rows, w.k, acc, stream);
  const int64_t ld_acc = n16;
  detail::fp4_epilogue_kernel<<<detail::grid_for(x.m * w.n, 256), 256, 0, stream>>>(acc, ld_acc, x.m, w.n, x.a_scale, epi);
  BITFOLD_CUDA_LAUNCH_CHECK();
}

}  // namespace bitfold::kernels
