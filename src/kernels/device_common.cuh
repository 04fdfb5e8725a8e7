#pragma once
// Device helpers shared by the GEMM kernels: PTX wrappers (loads, cp.async, mma), the frag
// unpacker and the dequantizing epilogue. Included by .cu files only.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include <sstream>
#include <string>

#include "kernels/gemm.h"

namespace bitfold::kernels::detail {
// fmt does not compile through nvcc here, so .cu files never include it: they format "{}"
// placeholders with a stream and throw bitfold::Error through throw_error (errors.cpp).
[[noreturn]] void throw_error(const std::string& message);
inline void format_into(std::ostringstream& os, const char* f) { os << f; }
template <class T, class... Rest>
void format_into(std::ostringstream& os, const char* f, const T& first, const Rest&... rest) {
  for (; *f; ++f) {
    if (f[0] == '{' && f[1] == '}') {
      os << first;
      return format_into(os, f + 2, rest...);
    }
    os << *f;
  }
}
template <class... Args>
[[noreturn]] void fail_rt(const char* format, const Args&... args) {
  std::ostringstream os;
  format_into(os, format, args...);
  throw_error(os.str());
}
}  // namespace bitfold::kernels::detail

#define BITFOLD_CUDA_CHECK(expr)                                                          \
  do {                                                                                    \
    const cudaError_t bitfold_status_ = (expr);                                           \
    if (bitfold_status_ != cudaSuccess)                                                   \
      ::bitfold::kernels::detail::fail_rt("CUDA error at {}:{}: {} ({})", __FILE__, __LINE__, #expr, \
                                          cudaGetErrorString(bitfold_status_));           \
  } while (0)

#define BITFOLD_CU_CHECK(cond, msg)                                                       \
  do {                                                                                    \
    if (!(cond)) ::bitfold::kernels::detail::fail_rt("internal error at {}:{}: {}", __FILE__, __LINE__, msg); \
  } while (0)

#define BITFOLD_CUDA_LAUNCH_CHECK() BITFOLD_CUDA_CHECK(cudaGetLastError())

namespace bitfold::kernels::detail {

int sm_count();  // multiprocessors of the current device (cached)

// ---- programmatic dependent launch (PDL) ----------------------------------------------------------
// In the kernel: wait for the preceding grid's memory (a no-op when not launched as a dependent
// grid), and let the next grid start launching.
__device__ __forceinline__ void grid_dependency_wait() { asm volatile("griddepcontrol.wait;" ::: "memory"); }
__device__ __forceinline__ void grid_launch_dependents() { asm volatile("griddepcontrol.launch_dependents;" ::: "memory"); }

// On the host: kernel<<<blocks, threads, smem, stream>>>(params), as a programmatic dependent of
// the stream's previous kernel when `pdl` (GemvOptions::pdl).
template <class Params>
void launch_maybe_pdl(void (*kernel)(Params), unsigned blocks, unsigned threads, size_t smem, Stream stream,
                      bool pdl, const Params& params) {
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = dim3(blocks);
  cfg.blockDim = dim3(threads);
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = pdl ? 1 : 0;
  BITFOLD_CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, params));
}

// ---- loads ------------------------------------------------------------------------------------
// Streaming weights: read once, keep them out of L1.
__device__ __forceinline__ uint4 ldg_stream16(const void* p) {
  uint4 v;
  asm("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(p));
  return v;
}
__device__ __forceinline__ uint2 ldg_stream8(const void* p) {
  uint2 v;
  asm("ld.global.nc.L1::no_allocate.v2.u32 {%0,%1}, [%2];" : "=r"(v.x), "=r"(v.y) : "l"(p));
  return v;
}

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
// 16-byte cp.async; bytes [src_bytes, 16) of the destination are zero-filled.
__device__ __forceinline__ void cp_async16(void* dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
               "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// ---- mma.sync ---------------------------------------------------------------------------------
__device__ __forceinline__ void mma_s8(int (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
// A unsigned (offset-binary weight codes), B signed (activation codes).
__device__ __forceinline__ void mma_u8s8(int (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.s32.u8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ void mma_b1(int (&c)[4], const uint4& a, uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k256.row.col.s32.b1.b1.s32.and.popc {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
      : "r"(a.x), "r"(a.y), "r"(a.z), "r"(a.w), "r"(b0), "r"(b1));
}

// ---- frag unpacking (layout.h, FragLayout) ------------------------------------------------------
// A lane's data for one 16 x 128 tile: 2p words, field of width f at words [2 off, 2 off + 2f).
template <int P>
struct FragData {
  uint32_t w[2 * P];
};

template <int P, bool kGlobal>
__device__ __forceinline__ void load_frag(const uint8_t* tile, int lane, FragData<P>& d) {
#pragma unroll
  for (int f = 8; f >= 1; f >>= 1) {
    if (!(P & f)) continue;
    const int off = P & ~(2 * f - 1);
    const uint8_t* base = tile + 256 * off;
    if (f >= 2) {
#pragma unroll
      for (int v = 0; v < f / 2; ++v) {
        const uint8_t* p = base + 512 * v + 16 * lane;
        const uint4 q = kGlobal ? ldg_stream16(p) : *reinterpret_cast<const uint4*>(p);
        d.w[2 * off + 4 * v + 0] = q.x;
        d.w[2 * off + 4 * v + 1] = q.y;
        d.w[2 * off + 4 * v + 2] = q.z;
        d.w[2 * off + 4 * v + 3] = q.w;
      }
    } else {
      const uint8_t* p = base + 8 * lane;
      const uint2 q = kGlobal ? ldg_stream8(p) : *reinterpret_cast<const uint2*>(p);
      d.w[2 * off + 0] = q.x;
      d.w[2 * off + 1] = q.y;
    }
  }
}

// Unit u (0..15) -> its four offset-binary codes w + 2^(P-1), one per byte (shift + mask only).
template <int P>
__device__ __forceinline__ uint32_t unpack_unit_u(const FragData<P>& d, int u) {
  uint32_t v = 0;
#pragma unroll
  for (int f = 8; f >= 1; f >>= 1) {
    if (!(P & f)) continue;
    const int off = P & ~(2 * f - 1);
    const uint32_t word = d.w[2 * off + u * f / 8];
    const int shift = f * (u % (8 / f));
    const uint32_t mask = f == 8 ? 0xFFFFFFFFu : 0x01010101u * ((1u << f) - 1u);
    v |= ((word >> shift) & mask) << off;
  }
  return v;
}

// Unit u (0..15) -> four signed int8 codes in one register (byte c = code at k + c).
template <int P>
__device__ __forceinline__ uint32_t unpack_unit(const FragData<P>& d, int u) {
  uint32_t v = 0;
#pragma unroll
  for (int f = 8; f >= 1; f >>= 1) {
    if (!(P & f)) continue;
    const int off = P & ~(2 * f - 1);
    const uint32_t word = d.w[2 * off + u * f / 8];
    const int shift = f * (u % (8 / f));
    const uint32_t mask = f == 8 ? 0xFFFFFFFFu : 0x01010101u * ((1u << f) - 1u);
    v |= ((word >> shift) & mask) << off;
  }
  // v holds w + 2^(P-1) per byte; adding 128 - 2^(P-1) gives w + 128 in [0, 255] with no carry
  // between bytes, and flipping bit 7 turns excess-128 into two's complement.
  constexpr uint32_t kAdd = 0x01010101u * uint32_t(128 - (1 << (P - 1)));
  return (v + kAdd) ^ 0x80808080u;
}

// ---- epilogue ---------------------------------------------------------------------------------
__device__ __forceinline__ float epi_value(const Epilogue& e, int64_t m, int64_t n, int32_t acc) {
  float v = float(acc) * e.w_scale[n];
  if (e.x_scale) v *= e.x_scale[m];
  if (e.bias) v += e.bias[n];
  if (e.residual) v += __half2float(reinterpret_cast<const __half*>(e.residual)[m * e.ld_residual + n]);
  return v;
}

__device__ __forceinline__ void store_out(const Epilogue& e, int64_t m, int64_t n, int32_t acc) {
  if (e.y_i32) e.y_i32[m * e.ld_i32 + n] = acc;
  if (!e.y_f16 && !e.y_f32) return;
  const float v = epi_value(e, m, n, acc);
  if (e.y_f32) e.y_f32[m * e.ld_f32 + n] = v;
  if (e.y_f16) reinterpret_cast<__half*>(e.y_f16)[m * e.ld_f16 + n] = __float2half_rn(v);
}

// Eight consecutive outputs n0..n0+7 of row m, their weight scales and biases at hand (b = 0
// without a bias); vectorized when everything is aligned.
// T = int32_t (integer sums; y_i32 written too) or float (FP8 sums; there is no y_i32).
template <class T>
__device__ __forceinline__ void store_out8_with(const Epilogue& e, int64_t m, int64_t n0, int64_t n_total,
                                                const T (&acc)[8], const float (&sc)[8], const float (&b)[8],
                                                bool vec_ok) {
  constexpr bool kInt = std::is_same_v<T, int32_t>;
  if (!vec_ok || n0 + 8 > n_total) {
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      if (n0 + i >= n_total) continue;
      const int64_t n = n0 + i;
      if constexpr (kInt)
        if (e.y_i32) e.y_i32[m * e.ld_i32 + n] = acc[i];
      if (!e.y_f16 && !e.y_f32) continue;
      float v = float(acc[i]) * sc[i];
      if (e.x_scale) v *= e.x_scale[m];
      v += b[i];
      if (e.residual) v += __half2float(reinterpret_cast<const __half*>(e.residual)[m * e.ld_residual + n]);
      if (e.y_f32) e.y_f32[m * e.ld_f32 + n] = v;
      if (e.y_f16) reinterpret_cast<__half*>(e.y_f16)[m * e.ld_f16 + n] = __float2half_rn(v);
    }
    return;
  }
  if constexpr (kInt) {
    if (e.y_i32) {
      int4* dst = reinterpret_cast<int4*>(e.y_i32 + m * e.ld_i32 + n0);
      dst[0] = make_int4(acc[0], acc[1], acc[2], acc[3]);
      dst[1] = make_int4(acc[4], acc[5], acc[6], acc[7]);
    }
  }
  if (!e.y_f16 && !e.y_f32) return;
  float v[8];
  const float xs = e.x_scale ? e.x_scale[m] : 1.0f;
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    v[i] = float(acc[i]) * sc[i];
    if (e.x_scale) v[i] *= xs;
    v[i] += b[i];
  }
  if (e.residual) {
    const uint4 r = *reinterpret_cast<const uint4*>(e.residual + m * e.ld_residual + n0);
    const __half2* h = reinterpret_cast<const __half2*>(&r);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float2 f = __half22float2(h[i]);
      v[2 * i] += f.x;
      v[2 * i + 1] += f.y;
    }
  }
  if (e.y_f32) {
    float4* dst = reinterpret_cast<float4*>(e.y_f32 + m * e.ld_f32 + n0);
    dst[0] = make_float4(v[0], v[1], v[2], v[3]);
    dst[1] = make_float4(v[4], v[5], v[6], v[7]);
  }
  if (e.y_f16) {
    uint4 o;
    __half2* h = reinterpret_cast<__half2*>(&o);
#pragma unroll
    for (int i = 0; i < 4; ++i) h[i] = __floats2half2_rn(v[2 * i], v[2 * i + 1]);
    *reinterpret_cast<uint4*>(e.y_f16 + m * e.ld_f16 + n0) = o;
  }
}

// Eight consecutive outputs n0..n0+7 of row m; vectorized when everything is aligned.
__device__ __forceinline__ void store_out8(const Epilogue& e, int64_t m, int64_t n0, int64_t n_total,
                                           const int32_t (&acc)[8], bool vec_ok) {
  float sc[8] = {}, b[8] = {};
  if (e.y_f16 || e.y_f32) {
    if (vec_ok && n0 + 8 <= n_total) {
      const float4 s0 = *reinterpret_cast<const float4*>(e.w_scale + n0);
      const float4 s1 = *reinterpret_cast<const float4*>(e.w_scale + n0 + 4);
      sc[0] = s0.x, sc[1] = s0.y, sc[2] = s0.z, sc[3] = s0.w, sc[4] = s1.x, sc[5] = s1.y, sc[6] = s1.z, sc[7] = s1.w;
      if (e.bias) {
        const float4 b0 = *reinterpret_cast<const float4*>(e.bias + n0);
        const float4 b1 = *reinterpret_cast<const float4*>(e.bias + n0 + 4);
        b[0] = b0.x, b[1] = b0.y, b[2] = b0.z, b[3] = b0.w, b[4] = b1.x, b[5] = b1.y, b[6] = b1.z, b[7] = b1.w;
      }
    } else {
#pragma unroll
      for (int i = 0; i < 8; ++i)
        if (n0 + i < n_total) sc[i] = e.w_scale[n0 + i], b[i] = e.bias ? e.bias[n0 + i] : 0.0f;
    }
  }
  store_out8_with(e, m, n0, n_total, acc, sc, b, vec_ok);
}

// Host: may store_out8 use 16-byte accesses (every row start and every array 16-byte aligned)?
bool epilogue_vec_ok(const Epilogue& e);

// Host: what every FP4 route refuses (K mismatch, misaligned operands, an integer output, no w_scale).
void check_fp4_operands(const char* who, const Fp4Weight& w, const Fp8Act& x, const Epilogue& epi);

}  // namespace bitfold::kernels::detail
