// Large-M GEMMs with the dequantizing epilogue fused (sm_90a): Y = X . W^T over byte operands,
// built the way cuBLAS's own Hopper kernels are (warp-specialized, bulk tensor copies,
// shared-memory wgmma), so that the per-channel scales, bias and residual are applied to the
// accumulators instead of in a separate pass over a 32-bit copy of Y (what the cuBLASLt routes
// pay: cuBLASLt 13.0 has no per-row scale for int8 or e4m3). Operands: int8 codes X [M][ldx] and
// int8 weight rows W [N][ldw] (gemm_int8_tma, s32 accumulators), or E4M3 bytes for both (the FP4
// route after its E2M1 -> E4M3 pre-pass, gemm_fp4_tma, f32 accumulators).
//
// Persistent CTAs, one per SM, of three warpgroups: warpgroup 0 issues the copies (one thread),
// warpgroups 1 and 2 multiply and write the outputs. A tile is 128 tokens x 256 channels; a
// k step is 128 bytes: 16 KB of X and 32 KB of W per stage, three stages on mbarriers (full: the
// copy engine's byte count; empty: the consumers' warps). Consumer c takes tokens [64 c, 64 c +
// 64) of the tile with four m64n256k32 wgmmas per step, both operands read from 128-byte-swizzled
// shared memory as the copy engine wrote them. Tiles run in groups of 8 token blocks, token block
// fastest, so that the CTAs working at one time share their weight tiles in L2.
//
// Epilogue (docs/kernels.md has the measurements): with FP16 output alone, each consumer writes
// its 64 x 256 FP16 results into swizzled shared memory and hands them to the copy engine (bulk
// tensor store), then goes on with its next tile while the store drains; any other output set
// (FP32, int32, odd leading dimensions) goes through shared memory in chunks of 32 channels.
#include <cuda.h>

#include <algorithm>
#include <mutex>

#include "kernels/device_common.cuh"
#include "kernels/gemm_context.h"
#include "kernels/wgmma_common.cuh"

namespace bitfold::kernels::detail {

constexpr int kTmaTileM = 128, kTmaTileN = 256, kTmaStepK = 128, kTmaStages = 3, kTmaGroupM = 8;
constexpr int kTmaXBytes = kTmaTileM * kTmaStepK;
constexpr int kTmaWBytes = kTmaTileN * kTmaStepK;
constexpr int kTmaStageBytes = kTmaXBytes + kTmaWBytes;
// Per consumer: the output staging area (four 64 x 64 FP16 boxes of the bulk store, or the
// int32 chunk of the general epilogue), then the tile's 256 weight scales and biases.
constexpr int kTmaBoxN = 64, kTmaBoxBytes = 64 * kTmaBoxN * 2;
constexpr int kTmaStageOutBytes = 4 * kTmaBoxBytes;
constexpr int kTmaChunkN = 32, kTmaChunkLd = kTmaChunkN + 4;
static_assert(64 * kTmaChunkLd * 4 <= kTmaStageOutBytes);
constexpr int kTmaEpiBytes = kTmaStageOutBytes + 2 * kTmaTileN * 4;
// Stages (1024-byte aligned for the swizzle), the consumers' epilogue areas, the mbarriers.
constexpr int kTmaBarOffset = kTmaStages * kTmaStageBytes + 2 * kTmaEpiBytes;
constexpr int kTmaSmemBytes = kTmaBarOffset + 2 * kTmaStages * 8 + 1024;

// How a kernel writes its tile (a template parameter, so that each variant's code stays small):
// FP16 alone through the bulk store, with y = acc * w_scale only (Plain) or with any of x_scale,
// bias, residual (Full); anything else through chunks of the 32-bit sums (Chunked).
enum class TmaEpi { BulkPlain, BulkFull, Chunked };

struct TmaParams {
  CUtensorMap x_map;  // bytes [M][K], box 128 x 128
  CUtensorMap w_map;  // bytes [N][K], box 256 x 128
  CUtensorMap y_map;  // FP16 [M][N], box 64 x 64 (bulk-store epilogue only)
  int64_t m, n;
  int k_steps, m_tiles, n_tiles;
  Epilogue epi;
  float a_scale;  // FP8: the activations' per-tensor scale, folded into the staged weight scales
  bool vec_ok;
};

__device__ __forceinline__ void mbar_init(uint32_t bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_expect_tx(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
  uint32_t done = 0;
  do {
    asm volatile(
        "{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n selp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(bar), "r"(parity)
        : "memory");
  } while (!done);
}
// Box at (c0, c1) (innermost coordinate first) of a 2-D tensor map into shared memory; completes
// its bytes on the mbarrier.
__device__ __forceinline__ void tma_load_2d(uint32_t dst, const CUtensorMap* map, int c0, int c1, uint32_t bar) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n" ::
          "r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(bar)
      : "memory");
}
// Shared memory -> box at (c0, c1); elements outside the tensor are not written.
__device__ __forceinline__ void tma_store_2d(const CUtensorMap* map, int c0, int c1, uint32_t src) {
  asm volatile("cp.async.bulk.tensor.2d.global.shared::cta.bulk_group [%0, {%1, %2}], [%3];\n" ::"l"(
                   reinterpret_cast<uint64_t>(map)),
               "r"(c0), "r"(c1), "r"(src)
               : "memory");
}
__device__ __forceinline__ void bulk_commit() { asm volatile("cp.async.bulk.commit_group;\n" ::: "memory"); }
// Wait until the committed bulk stores have read their shared memory (Read) or completed.
template <bool Read>
__device__ __forceinline__ void bulk_wait_all() {
  if constexpr (Read)
    asm volatile("cp.async.bulk.wait_group.read 0;\n" ::: "memory");
  else
    asm volatile("cp.async.bulk.wait_group 0;\n" ::: "memory");
}
// Named barriers 1 and 2, one per consumer warpgroup (literal ids: an id in a register makes
// ptxas reserve all 16 barriers).
__device__ __forceinline__ void consumer_barrier(int consumer) {
  if (consumer == 0)
    asm volatile("bar.sync 1, 128;\n" ::: "memory");
  else
    asm volatile("bar.sync 2, 128;\n" ::: "memory");
}

struct TileCoord {
  int m_blk, n_blk;
};
__device__ __forceinline__ TileCoord tile_coord(int t, int m_tiles, int n_tiles) {
  const int group = t / (kTmaGroupM * n_tiles), local = t % (kTmaGroupM * n_tiles);
  const int first = group * kTmaGroupM, rows = min(kTmaGroupM, m_tiles - first);
  return {first + local % rows, local / rows};
}

// acc[4 j + r] of a consumer thread: token 16 wq + g + 8 (r >> 1) of the consumer's 64, channel
// 8 j + 2 tq + (r & 1) of the tile (g = lane / 4, tq = lane % 4).

// FP16 results into the four swizzled 64 x 64 boxes (the bulk store's 128-byte swizzle: 16-byte
// piece c of row r at c ^ (r % 8), which also spreads the lanes' stores over all banks).
template <bool kFull, class AccT>
__device__ __forceinline__ void stage_f16(const AccT (&acc)[128], uint8_t* out, const float* scale, const float* bias,
                                          const TmaParams& p, int64_t m0, int64_t n_tile, int row, int g, int tq) {
  const Epilogue& e = p.epi;
  float xs[2] = {1.0f, 1.0f};
  const __half* res[2] = {nullptr, nullptr};  // this thread's two residual rows, if any
  if constexpr (kFull) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int64_t m = m0 + row + 8 * h;
      if (m >= p.m) continue;
      if (e.x_scale) xs[h] = e.x_scale[m];
      if (e.residual) res[h] = reinterpret_cast<const __half*>(e.residual) + m * e.ld_residual;
    }
  }
#pragma unroll
  for (int j = 0; j < 32; ++j) {
    const int col = 8 * j + 2 * tq;
    const float2 s = *reinterpret_cast<const float2*>(scale + col);
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float v0 = float(acc[4 * j + 2 * h]) * s.x, v1 = float(acc[4 * j + 2 * h + 1]) * s.y;
      if constexpr (kFull) {
        const float2 b = *reinterpret_cast<const float2*>(bias + col);
        v0 = v0 * xs[h] + b.x, v1 = v1 * xs[h] + b.y;
        if (res[h] && n_tile + col < p.n) {
          const float2 r = __half22float2(*reinterpret_cast<const __half2*>(res[h] + n_tile + col));
          v0 += r.x, v1 += r.y;
        }
      }
      uint8_t* dst = out + (j >> 3) * kTmaBoxBytes + (row + 8 * h) * 128 + (((j & 7) ^ g) << 4) + 4 * tq;
      *reinterpret_cast<__half2*>(dst) = __floats2half2_rn(v0, v1);
    }
  }
}

// The general epilogue: the 32-bit sums (int or float) through shared memory in chunks of 32
// channels, 8 channels per thread and step.
template <class AccT>
__device__ __forceinline__ void write_chunked(const AccT (&acc)[128], AccT* chunk, const float* scale,
                                              const float* bias, const TmaParams& p, int64_t m0, int64_t n_tile,
                                              int consumer, int ct, int row, int tq) {
#pragma unroll
  for (int c = 0; c < kTmaTileN / kTmaChunkN; ++c) {
    const int64_t n0 = n_tile + c * kTmaChunkN;
    if (n0 >= p.n) break;
    if (c > 0) consumer_barrier(consumer);  // the previous chunk has been written out
#pragma unroll
    for (int jj = 0; jj < kTmaChunkN / 8; ++jj) {
      const int j = c * (kTmaChunkN / 8) + jj, col = 8 * jj + 2 * tq;
      chunk[row * kTmaChunkLd + col] = acc[4 * j], chunk[row * kTmaChunkLd + col + 1] = acc[4 * j + 1];
      chunk[(row + 8) * kTmaChunkLd + col] = acc[4 * j + 2], chunk[(row + 8) * kTmaChunkLd + col + 1] = acc[4 * j + 3];
    }
    consumer_barrier(consumer);
    for (int idx = ct; idx < 64 * kTmaChunkN / 8; idx += 128) {
      const int r = idx / (kTmaChunkN / 8), c8 = (idx % (kTmaChunkN / 8)) * 8;
      const int64_t m = m0 + r, n = n0 + c8;
      if (m >= p.m || n >= p.n) continue;
      const AccT* src = chunk + r * kTmaChunkLd + c8;
      const AccT v[8] = {src[0], src[1], src[2], src[3], src[4], src[5], src[6], src[7]};
      const float* sc = scale + c * kTmaChunkN + c8;
      const float* bi = bias + c * kTmaChunkN + c8;
      const float s8[8] = {sc[0], sc[1], sc[2], sc[3], sc[4], sc[5], sc[6], sc[7]};
      const float b8[8] = {bi[0], bi[1], bi[2], bi[3], bi[4], bi[5], bi[6], bi[7]};
      store_out8_with(p.epi, m, n, p.n, v, s8, b8, p.vec_ok);
    }
  }
}

// kFp8: E4M3 operands and f32 accumulators instead of int8 and s32.
template <TmaEpi kEpi, bool kFp8>
__global__ void __launch_bounds__(384, 1) tma_gemm_kernel(const __grid_constant__ TmaParams p) {
  constexpr bool kBulk = kEpi != TmaEpi::Chunked;
  using AccT = std::conditional_t<kFp8, float, int32_t>;
  extern __shared__ uint8_t smem_raw[];
  uint8_t* smem = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(smem_raw) + 1023) & ~uintptr_t(1023));
  const uint32_t stages = smem_addr(smem);
  const uint32_t full_bar = stages + kTmaBarOffset, empty_bar = full_bar + kTmaStages * 8;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, wg = warp >> 2;
  const int tiles = p.m_tiles * p.n_tiles;

  if (threadIdx.x == 0) {
    for (int s = 0; s < kTmaStages; ++s) {
      mbar_init(full_bar + 8 * s, 1);
      mbar_init(empty_bar + 8 * s, 8);  // every consumer warp releases the stage
    }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    fence_proxy_async();
  }
  __syncthreads();

  if (wg == 0) {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n" ::: "memory");
    if (threadIdx.x != 0) return;
    int stage = 0;
    uint32_t phase = 0;
    for (int t = blockIdx.x; t < tiles; t += gridDim.x) {
      const TileCoord tc = tile_coord(t, p.m_tiles, p.n_tiles);
      for (int ks = 0; ks < p.k_steps; ++ks) {
        mbar_wait(empty_bar + 8 * stage, phase ^ 1);
        const uint32_t full = full_bar + 8 * stage, dst = stages + stage * kTmaStageBytes;
        mbar_expect_tx(full, kTmaStageBytes);
        tma_load_2d(dst, &p.x_map, ks * kTmaStepK, tc.m_blk * kTmaTileM, full);
        tma_load_2d(dst + kTmaXBytes, &p.w_map, ks * kTmaStepK, tc.n_blk * kTmaTileN, full);
        if (++stage == kTmaStages) stage = 0, phase ^= 1;
      }
    }
    return;
  }

  asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n" ::: "memory");
  const int consumer = wg - 1, ct = threadIdx.x - 128 * wg, wq = warp & 3, g = lane >> 2, tq = lane & 3;
  const int row = wq * 16 + g;
  uint8_t* epi_area = smem + kTmaStages * kTmaStageBytes + consumer * kTmaEpiBytes;
  float* scale = reinterpret_cast<float*>(epi_area + kTmaStageOutBytes);
  float* bias = scale + kTmaTileN;
  const bool want_values = p.epi.y_f16 || p.epi.y_f32;
  int stage = 0;
  uint32_t phase = 0;
  AccT acc[128];
  for (int t = blockIdx.x; t < tiles; t += gridDim.x) {
    const TileCoord tc = tile_coord(t, p.m_tiles, p.n_tiles);
    const int64_t m0 = int64_t(tc.m_blk) * kTmaTileM + consumer * 64, n_tile = int64_t(tc.n_blk) * kTmaTileN;
#pragma unroll
    for (int i = 0; i < 128; ++i) acc[i] = AccT(0);
    fence_regs(acc);
    int prev = -1;
    for (int ks = 0; ks < p.k_steps; ++ks) {
      mbar_wait(full_bar + 8 * stage, phase);
      const uint32_t xs = stages + stage * kTmaStageBytes + consumer * 64 * kTmaStepK;
      const uint32_t ws = stages + stage * kTmaStageBytes + kTmaXBytes;
      wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < 4; ++kk) {
        if constexpr (kFp8)
          WgmmaSSF8<256>::mma(acc, desc_sw128(xs + 32 * kk), desc_sw128(ws + 32 * kk));
        else
          WgmmaSS<256>::mma(acc, desc_sw128(xs + 32 * kk), desc_sw128(ws + 32 * kk));
      }
      wgmma_commit();
      // The previous step's group is done once at most this one is in flight: release its stage.
      wgmma_wait<1>();
      if (prev >= 0 && lane == 0) mbar_arrive(empty_bar + 8 * prev);
      prev = stage;
      if (++stage == kTmaStages) stage = 0, phase ^= 1;
    }
    wgmma_wait<0>();
    fence_regs(acc);
    if (prev >= 0 && lane == 0) mbar_arrive(empty_bar + 8 * prev);

    // The tile's scales and biases (two columns per thread), once everyone is done with the
    // previous tile's and its bulk store has read the staging area.
    if (kBulk && ct == 0) bulk_wait_all<true>();
    consumer_barrier(consumer);
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int64_t n = n_tile + ct + 128 * h;
      const bool ok = want_values && n < p.n;
      scale[ct + 128 * h] = ok ? (kFp8 ? p.epi.w_scale[n] * p.a_scale : p.epi.w_scale[n]) : 0.0f;
      bias[ct + 128 * h] = ok && p.epi.bias ? p.epi.bias[n] : 0.0f;
    }
    consumer_barrier(consumer);
    if constexpr (kBulk) {
      stage_f16<kEpi == TmaEpi::BulkFull, AccT>(acc, epi_area, scale, bias, p, m0, n_tile, row, g, tq);
      fence_proxy_async();  // the copy engine reads what the threads wrote
      consumer_barrier(consumer);
      if (ct == 0) {
        for (int b = 0; b < kTmaTileN / kTmaBoxN; ++b)
          if (n_tile + b * kTmaBoxN < p.n)
            tma_store_2d(&p.y_map, int(n_tile) + b * kTmaBoxN, int(m0), smem_addr(epi_area + b * kTmaBoxBytes));
        bulk_commit();
      }
    } else {
      write_chunked(acc, reinterpret_cast<AccT*>(epi_area), scale, bias, p, m0, n_tile, consumer, ct, row, tq);
    }
  }
  if (kBulk && ct == 0) bulk_wait_all<false>();
}

// cuTensorMapEncodeTiled through the runtime's driver entry point (no link against libcuda).
using EncodeTiled = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*,
                                 const cuuint64_t*, const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave,
                                 CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);
EncodeTiled encode_tiled() {
  static EncodeTiled fn = nullptr;
  static std::once_flag once;
  std::call_once(once, [] {
    void* ptr = nullptr;
    cudaDriverEntryPointQueryResult status{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &ptr, 12000, cudaEnableDefault, &status) ==
            cudaSuccess &&
        status == cudaDriverEntryPointSuccess)
      fn = reinterpret_cast<EncodeTiled>(ptr);
  });
  if (!fn) fail_rt("gemm_int8_tma: the driver has no cuTensorMapEncodeTiled");
  return fn;
}

// A row-major matrix [rows][ld] (ld in elements, cols valid) as a 2-D tensor map with boxes of
// box_rows x box_cols and 128-byte swizzle; loads read zeros outside it, stores skip those parts.
CUtensorMap tensor_map_2d(CUtensorMapDataType type, int elem_bytes, const void* data, int64_t ld, int64_t rows,
                          int64_t cols, int box_cols, int box_rows) {
  CUtensorMap map;
  const cuuint64_t dims[2] = {cuuint64_t(cols), cuuint64_t(rows)};
  const cuuint64_t strides[1] = {cuuint64_t(ld * elem_bytes)};
  const cuuint32_t box[2] = {cuuint32_t(box_cols), cuuint32_t(box_rows)};
  const cuuint32_t elem_strides[2] = {1, 1};
  const CUresult r = encode_tiled()(&map, type, 2, const_cast<void*>(data), dims, strides, box, elem_strides,
                                    CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                                    CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS)
    fail_rt("gemm_int8_tma: cuTensorMapEncodeTiled failed ({}) for {} x {} (ld {})", int(r), rows, cols, ld);
  return map;
}

// FP16 output alone, 16-byte aligned rows, N a multiple of 8 (the bulk store clips at the
// tensor's edge in 16-byte pieces), aligned residual pairs: the bulk-store epilogue.
bool bulk_store_ok(const Epilogue& e, int64_t n) {
  auto al = [](const void* ptr, uintptr_t a) { return reinterpret_cast<uintptr_t>(ptr) % a == 0; };
  if (!e.y_f16 || e.y_f32 || e.y_i32 || n % 8 != 0) return false;
  if (!al(e.y_f16, 16) || e.ld_f16 % 8 != 0) return false;
  return !e.residual || (al(e.residual, 4) && e.ld_residual % 2 == 0);
}

}  // namespace bitfold::kernels::detail

namespace bitfold::kernels::detail {
namespace {

template <bool kFp8>
void configure_tma_kernels() {
  static std::once_flag configured;
  std::call_once(configured, [] {
    for (auto kernel : {tma_gemm_kernel<TmaEpi::BulkPlain, kFp8>, tma_gemm_kernel<TmaEpi::BulkFull, kFp8>,
                        tma_gemm_kernel<TmaEpi::Chunked, kFp8>})
      BITFOLD_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kTmaSmemBytes));
  });
}

// Y = X . W^T over byte operands (int8 codes, or E4M3 with kFp8), X [m][ldx], W [n][ldw].
template <bool kFp8>
void launch_tma_gemm(const char* who, const void* w_rows, int64_t ldw, int64_t n, const void* x, int64_t ldx,
                     int64_t m, int64_t k, const Epilogue& epi, float a_scale, Stream stream) {
  if (ldw % 16 != 0 || ldx % 16 != 0 || ldw < k || ldx < k)
    fail_rt("{}: ldw {} and ldx {} must be multiples of 16 and >= K {}", who, ldw, ldx, k);
  if (reinterpret_cast<uintptr_t>(w_rows) % 16 != 0 || reinterpret_cast<uintptr_t>(x) % 16 != 0)
    fail_rt("{}: operands must be 16-byte aligned", who);
  if (!epi.w_scale && (epi.y_f16 || epi.y_f32)) fail_rt("{}: w_scale is required", who);
  if (m >= (int64_t(1) << 31) || n >= (int64_t(1) << 31)) fail_rt("{}: M {} or N {} too large", who, m, n);
  if (m == 0 || n == 0) return;
  configure_tma_kernels<kFp8>();
  TmaParams p{};
  p.x_map = tensor_map_2d(CU_TENSOR_MAP_DATA_TYPE_UINT8, 1, x, ldx, m, k, kTmaStepK, kTmaTileM);
  p.w_map = tensor_map_2d(CU_TENSOR_MAP_DATA_TYPE_UINT8, 1, w_rows, ldw, n, k, kTmaStepK, kTmaTileN);
  const bool bulk = bulk_store_ok(epi, n);
  const TmaEpi kind = !bulk ? TmaEpi::Chunked
                            : (epi.bias || epi.x_scale || epi.residual ? TmaEpi::BulkFull : TmaEpi::BulkPlain);
  if (bulk) p.y_map = tensor_map_2d(CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 2, epi.y_f16, epi.ld_f16, m, n, kTmaBoxN, 64);
  p.m = m;
  p.n = n;
  p.k_steps = int(ceil_div(k, kTmaStepK));
  p.m_tiles = int(ceil_div(m, kTmaTileM));
  p.n_tiles = int(ceil_div(n, kTmaTileN));
  p.epi = epi;
  p.a_scale = a_scale;
  p.vec_ok = epilogue_vec_ok(epi);
  const unsigned grid = unsigned(std::min(p.m_tiles * p.n_tiles, sm_count()));
  switch (kind) {
    case TmaEpi::BulkPlain: tma_gemm_kernel<TmaEpi::BulkPlain, kFp8><<<grid, 384, kTmaSmemBytes, stream>>>(p); break;
    case TmaEpi::BulkFull: tma_gemm_kernel<TmaEpi::BulkFull, kFp8><<<grid, 384, kTmaSmemBytes, stream>>>(p); break;
    case TmaEpi::Chunked: tma_gemm_kernel<TmaEpi::Chunked, kFp8><<<grid, 384, kTmaSmemBytes, stream>>>(p); break;
  }
  BITFOLD_CUDA_LAUNCH_CHECK();
}

}  // namespace
}  // namespace bitfold::kernels::detail

namespace bitfold::kernels {

void gemm_int8_tma(GemmContext& /*ctx*/, const int8_t* w_rows, int64_t ldw, int64_t n, const Int8Act& x,
                   const Epilogue& epi, Stream stream) {
  detail::launch_tma_gemm<false>("gemm_int8_tma", w_rows, ldw, n, x.data, x.ld, x.m, x.k, epi, 1.0f, stream);
}

void gemm_unpack_tma(GemmContext& ctx, const FragWeight& w, const Int8Act& x, const Epilogue& epi, Stream stream) {
  if (w.k != x.k) detail::fail_rt("gemm_unpack_tma: weight K {} != activation K {}", w.k, x.k);
  const int64_t ldw = round_up(w.k, 16);
  gemm_int8_tma(ctx, ctx.impl().unpack_to_rows(w, ldw, stream), ldw, w.n, x, epi, stream);
}

void gemm_fp4_tma(GemmContext& ctx, const Fp4Weight& w, const Fp8Act& x, const Epilogue& epi, Stream stream) {
  detail::check_fp4_operands("gemm_fp4_tma", w, x, epi);
  if (x.m <= 0 || w.n <= 0) return;
  auto& c = ctx.impl();
  const int64_t ldw = round_up(w.k, 16);
  auto* rows = static_cast<uint8_t*>(c.ensure(c.scratch_fp8, c.scratch_fp8_bytes, size_t(w.n * ldw)));
  unpack_fp4_device(w, rows, ldw, stream);
  detail::launch_tma_gemm<true>("gemm_fp4_tma", rows, ldw, w.n, x.data, x.ld, x.m, x.k, epi, x.a_scale, stream);
}

}  // namespace bitfold::kernels
