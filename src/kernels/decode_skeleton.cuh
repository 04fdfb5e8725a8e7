#pragma once
// The small-M GEMM skeleton shared by route (a) decode (int8 mma on unpacked p-bit weights) and
// route (b) BTC (b1 mma on bit-planes). Memory-bound design:
//   * a CTA is 4 warps; warp w owns one 16-row tile of W (the mma A operand, rows = output
//     channels) and streams it from global memory straight into registers, 16-byte loads, a
//     whole batch of tiles in flight and the next batch prefetched while this one computes;
//   * the activations of the CTA's k range (the mma B operand, columns = tokens) are staged once
//     in shared memory and shared by the 4 warps, in chunks so any K fits;
//   * K is split over CTAs until the grid fills the GPU (M <= 32): partial int32 sums go to a
//     global accumulator with atomics, and the last CTA of each row block (ticket counter)
//     applies the epilogue and zeroes the accumulator and the counter for the next call.
#include <algorithm>

#include "kernels/device_common.cuh"
#include "kernels/gemm_context.h"
#include "kernels/layout.h"

namespace bitfold::kernels::detail {

struct SkeletonParams {
  const uint8_t* w;       // packed tiles of the policy's layout
  int64_t k_tiles;        // tiles along K
  int64_t n, m, k;        // logical shape
  int64_t row_tiles;      // ceil(n / 16)
  const void* x;          // int8 [m][ldx] or planes [q][m][ldx words]
  int64_t ldx;
  int splits, tiles_per_split, chunk_tiles;
  int row_blocks, token_blocks;
  int32_t* split_acc;     // [<= 32][split_ld]
  int64_t split_ld;
  unsigned* counters;     // [token_blocks][row_blocks]
  Epilogue epi;
};

// ---- route (a): int8 mma on frag-packed p-bit weights (decode k order) ---------------------------
// Offset-binary weights in an unsigned x signed mma plus an all-ones mma for sum_k x, as in the
// direct kernel (gemm_decode.cu).
template <int P>
struct Int8FragPolicy {
  static constexpr int kKTile = 128;
  static constexpr int64_t kTileBytes = 256 * P;
  static constexpr int kBatch = P <= 2 ? 4 : (P <= 4 ? 2 : 1);  // tiles per load batch
  using Tile = FragData<P>;
  template <int NT>
  struct Acc {
    int c[NT][4];
    int sum[NT][4];
  };

  // Shared memory: int8 rows [8 NT][chunk * 128 + 8]. A lane reads its two B-fragment words as
  // one 8-byte load at byte 32 t + 8 s of row g; the 8-byte pad spreads the 16 lanes of each
  // half-warp phase over all 32 banks.
  static constexpr int64_t row_bytes(int chunk) { return int64_t(chunk) * kKTile + 8; }
  template <int NT>
  static constexpr int64_t smem_bytes(int chunk) {
    return int64_t(8 * NT) * row_bytes(chunk);
  }

  template <int NT>
  __device__ static void zero(Acc<NT>& acc) {
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
      for (int r = 0; r < 4; ++r) acc.c[j][r] = 0, acc.sum[j][r] = 0;
  }

  __device__ static void load(const uint8_t* tile, int lane, Tile& t) { load_frag<P, true>(tile, lane, t); }

  template <int NT>
  __device__ static void stage(const SkeletonParams& p, uint8_t* smem, int64_t m0, int64_t c0, int64_t c1) {
    const int64_t ld = row_bytes(p.chunk_tiles);
    const int cols8 = int(c1 - c0) * (kKTile / 8);
    const int8_t* x = static_cast<const int8_t*>(p.x);
    // warp w stages rows w, w + 4, ...; its lanes walk along the row (no divisions)
    for (int row = threadIdx.x >> 5; row < 8 * NT; row += blockDim.x >> 5)
      for (int c8 = threadIdx.x & 31; c8 < cols8; c8 += 32) {
      const int64_t m = m0 + row, k = c0 * kKTile + int64_t(c8) * 8;
      uint2 v = make_uint2(0, 0);
      if (m < p.m) {
        if (k + 8 <= p.k) {
          v = *reinterpret_cast<const uint2*>(x + m * p.ldx + k);
        } else if (k < p.k) {
          uint8_t b[8];
#pragma unroll
          for (int j = 0; j < 8; ++j) b[j] = (k + j < p.k) ? uint8_t(x[m * p.ldx + k + j]) : uint8_t(0);
          v = *reinterpret_cast<const uint2*>(b);
        }
      }
      *reinterpret_cast<uint2*>(smem + row * ld + c8 * 8) = v;
      }
  }

  template <int NT>
  __device__ static void compute(const SkeletonParams& p, const uint8_t* smem, int64_t tile_in_chunk,
                                 const Tile& t, int lane, Acc<NT>& acc) {
    constexpr uint32_t kOnes[4] = {0x01010101u, 0x01010101u, 0x01010101u, 0x01010101u};
    const int g = lane >> 2, tq = lane & 3;
    const int64_t ld = row_bytes(p.chunk_tiles);
    const uint8_t* xs = smem + tile_in_chunk * kKTile + 32 * tq;
#pragma unroll
    for (int s = 0; s < 4; ++s) {
      uint32_t a[4];
#pragma unroll
      for (int r = 0; r < 4; ++r) a[r] = unpack_unit_u<P>(t, 4 * s + r);
#pragma unroll
      for (int j = 0; j < NT; ++j) {
        const uint2 b = *reinterpret_cast<const uint2*>(xs + (8 * j + g) * ld + 8 * s);
        mma_u8s8(acc.c[j], a, b.x, b.y);
        mma_u8s8(acc.sum[j], kOnes, b.x, b.y);
      }
    }
  }

  template <int NT>
  __device__ static void finalize(const Acc<NT>& acc, int32_t (&res)[NT][4]) {
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
      for (int r = 0; r < 4; ++r) res[j][r] = acc.c[j][r] - (1 << (P - 1)) * acc.sum[j][r];
  }
};

// ---- route (b): BTC on bit-planes ---------------------------------------------------------------
// Products of plane pairs with the same weight +-2^(i+j) share an accumulator ("diagonals"):
// index i + j for a positive weight, P + Q - 1 + i + j for a negative one (exactly one of the
// two planes is a sign plane). The int32 result is sum_d 2^d (A[d] - A[P+Q-1+d]), exact in
// two's-complement arithmetic.
template <int P, int Q>
struct BtcPolicy {
  static constexpr int kKTile = 256;
  static constexpr int64_t kTileBytes = 512 * P;
  static constexpr int kBatch = P <= 2 ? 2 : 1;
  static constexpr int kDiag = P + Q - 1;
  struct Tile {
    uint4 a[P];
  };
  template <int NT>
  struct Acc {
    int c[2 * kDiag][NT][4];
  };

  // Shared memory: uint32 rows [Q][8 NT][chunk * 8 + 4]; the 4-word pad makes the row stride an
  // odd multiple of 4 words, so a B fragment load touches 32 different banks.
  template <int NT>
  static constexpr int64_t smem_bytes(int chunk) {
    return int64_t(Q) * 8 * NT * (int64_t(chunk) * 8 + 4) * 4;
  }

  template <int NT>
  __device__ static void zero(Acc<NT>& acc) {
#pragma unroll
    for (int d = 0; d < 2 * kDiag; ++d)
#pragma unroll
      for (int j = 0; j < NT; ++j)
#pragma unroll
        for (int r = 0; r < 4; ++r) acc.c[d][j][r] = 0;
  }

  __device__ static void load(const uint8_t* tile, int lane, Tile& t) {
#pragma unroll
    for (int j = 0; j < P; ++j) t.a[j] = ldg_stream16(tile + 512 * j + 16 * lane);
  }

  template <int NT>
  __device__ static void stage(const SkeletonParams& p, uint8_t* smem, int64_t m0, int64_t c0, int64_t c1) {
    const int64_t ld = int64_t(p.chunk_tiles) * 8 + 4;  // words
    const int quads = int(c1 - c0) * 2;                  // 16-byte groups per row
    const uint32_t* x = static_cast<const uint32_t*>(p.x);
    uint32_t* xs = reinterpret_cast<uint32_t*>(smem);
    for (int row = threadIdx.x >> 5; row < Q * 8 * NT; row += blockDim.x >> 5)
      for (int qd = threadIdx.x & 31; qd < quads; qd += 32) {
      const int plane = row / (8 * NT), tok = row % (8 * NT);
      const int64_t m = m0 + tok;
      uint4 v = make_uint4(0, 0, 0, 0);
      if (m < p.m) v = *reinterpret_cast<const uint4*>(x + (plane * p.m + m) * p.ldx + c0 * 8 + qd * 4);
      uint32_t* dst = xs + row * ld + qd * 4;
      dst[0] = v.x;
      dst[1] = v.y;
      dst[2] = v.z;
      dst[3] = v.w;
      }
  }

  template <int NT>
  __device__ static void compute(const SkeletonParams& p, const uint8_t* smem, int64_t tile_in_chunk,
                                 const Tile& t, int lane, Acc<NT>& acc) {
    const int g = lane >> 2, tq = lane & 3;
    const int64_t ld = int64_t(p.chunk_tiles) * 8 + 4;
    const uint32_t* xs = reinterpret_cast<const uint32_t*>(smem) + tile_in_chunk * 8;
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
      for (int i = 0; i < Q; ++i) {
        const uint32_t* row = xs + (i * 8 * NT + 8 * j + g) * ld + tq;
        const uint32_t b0 = row[0], b1 = row[4];
#pragma unroll
        for (int jw = 0; jw < P; ++jw) {
          const int d = i + jw + (((i == Q - 1) != (jw == P - 1)) ? kDiag : 0);
          mma_b1(acc.c[d][j], t.a[jw], b0, b1);
        }
      }
  }

  template <int NT>
  __device__ static void finalize(const Acc<NT>& acc, int32_t (&res)[NT][4]) {
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        uint32_t v = 0;
#pragma unroll
        for (int d = 0; d < kDiag; ++d)
          v += (uint32_t(acc.c[d][j][r]) - uint32_t(acc.c[kDiag + d][j][r])) << d;
        res[j][r] = int32_t(v);
      }
  }
};

// ---- the skeleton -------------------------------------------------------------------------------
template <class Pol, int NT>
__global__ void __launch_bounds__(128) skeleton_kernel(const SkeletonParams p) {
  extern __shared__ __align__(16) uint8_t smem[];
  __shared__ unsigned s_ticket;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  int64_t bid = blockIdx.x;
  const int tb = int(bid % p.token_blocks);  // token blocks vary fastest: CTAs that share W tiles run together
  bid /= p.token_blocks;
  const int split = int(bid % p.splits);
  const int rb = int(bid / p.splits);
  const int64_t rt = int64_t(rb) * 4 + warp;
  const bool active = rt < p.row_tiles;
  const int64_t t_begin = int64_t(split) * p.tiles_per_split;
  const int64_t t_end = min(t_begin + p.tiles_per_split, p.k_tiles);
  const int64_t m0 = int64_t(tb) * 8 * NT;

  typename Pol::template Acc<NT> acc;
  Pol::template zero<NT>(acc);

  constexpr int B = Pol::kBatch;
  const uint8_t* wrow = p.w + rt * p.k_tiles * Pol::kTileBytes;
  typename Pol::Tile cur[B], nxt[B];
  // The first weight batch does not depend on the activations: issue it before staging them, so
  // the DRAM and L2 round trips overlap.
  if (active) {
    const int64_t c1 = min(t_begin + int64_t(p.chunk_tiles), t_end);
#pragma unroll
    for (int b = 0; b < B; ++b)
      if (t_begin + b < c1) Pol::load(wrow + (t_begin + b) * Pol::kTileBytes, lane, cur[b]);
  }
  for (int64_t c0 = t_begin; c0 < t_end; c0 += p.chunk_tiles) {
    const int64_t c1 = min(c0 + int64_t(p.chunk_tiles), t_end);
    __syncthreads();  // the previous chunk's readers are done
    Pol::template stage<NT>(p, smem, m0, c0, c1);
    __syncthreads();
    if (!active) continue;
    if (c0 != t_begin) {
#pragma unroll
      for (int b = 0; b < B; ++b)
        if (c0 + b < c1) Pol::load(wrow + (c0 + b) * Pol::kTileBytes, lane, cur[b]);
    }
    for (int64_t t = c0; t < c1; t += B) {
      if (t + B < c1) {
#pragma unroll
        for (int b = 0; b < B; ++b)
          if (t + B + b < c1) Pol::load(wrow + (t + B + b) * Pol::kTileBytes, lane, nxt[b]);
      }
#pragma unroll
      for (int b = 0; b < B; ++b)
        if (t + b < c1) Pol::template compute<NT>(p, smem, t + b - c0, cur[b], lane, acc);
#pragma unroll
      for (int b = 0; b < B; ++b) cur[b] = nxt[b];
    }
  }

  int32_t res[NT][4];
  Pol::template finalize<NT>(acc, res);
  const int g = lane >> 2, tq = lane & 3;

  if (p.splits > 1) {
    if (active) {
#pragma unroll
      for (int j = 0; j < NT; ++j)
#pragma unroll
        for (int r = 0; r < 4; ++r) {
          const int64_t n = rt * 16 + g + 8 * (r >> 1), m = m0 + 8 * j + 2 * tq + (r & 1);
          if (n < p.n && m < p.m) atomicAdd(p.split_acc + m * p.split_ld + n, res[j][r]);
        }
    }
    __threadfence();
    __syncthreads();
    unsigned* counter = p.counters + int64_t(tb) * p.row_blocks + rb;
    if (threadIdx.x == 0) s_ticket = atomicAdd(counter, 1u);
    __syncthreads();
    if (s_ticket != unsigned(p.splits - 1)) return;
    __threadfence();
    if (active) {
#pragma unroll
      for (int j = 0; j < NT; ++j)
#pragma unroll
        for (int r = 0; r < 4; ++r) {
          const int64_t n = rt * 16 + g + 8 * (r >> 1), m = m0 + 8 * j + 2 * tq + (r & 1);
          if (n < p.n && m < p.m) res[j][r] = atomicExch(p.split_acc + m * p.split_ld + n, 0);
        }
    }
    if (threadIdx.x == 0) *counter = 0;
  }
  if (!active) return;
#pragma unroll
  for (int j = 0; j < NT; ++j)
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      const int64_t n = rt * 16 + g + 8 * (r >> 1), m = m0 + 8 * j + 2 * tq + (r & 1);
      if (n < p.n && m < p.m) store_out(p.epi, m, n, res[j][r]);
    }
}

}  // namespace bitfold::kernels::detail

namespace bitfold::kernels::detail {

// Host side: picks the split of K and the staging chunk, then launches.
template <class Pol, int NT>
void launch_skeleton(GemmContext::Impl& ctx, const uint8_t* w, int64_t n, int64_t k, const void* x,
                     int64_t ldx, int64_t m, const Epilogue& epi, Stream stream,
                     const DecodeTuning& tuning) {
  SkeletonParams p{};
  p.w = w;
  p.x = x;
  p.ldx = ldx;
  p.n = n;
  p.m = m;
  p.k = k;
  p.epi = epi;
  p.k_tiles = ceil_div(k, Pol::kKTile);
  p.row_tiles = ceil_div(n, 16);
  p.row_blocks = int(ceil_div(p.row_tiles, 4));
  p.token_blocks = int(ceil_div(m, 8 * NT));
  const int64_t base = int64_t(p.row_blocks) * p.token_blocks;
  // 47 KB of dynamic shared memory at most: no opt-in needed, and 4 CTAs fit on an SM.
  constexpr int64_t kSmemBudget = 47 * 1024;
  int max_chunk = 1;
  while (Pol::template smem_bytes<NT>(max_chunk + 1) <= kSmemBudget) ++max_chunk;
  int64_t splits = 1;
  if (m <= GemmContext::Impl::kMaxSplitM) {
    const int64_t target = int64_t(std::max(1, tuning.ctas_per_sm)) * sm_count();
    splits = std::clamp<int64_t>(ceil_div(target, base), 1, p.k_tiles);
  }
  const int64_t tps = ceil_div(p.k_tiles, splits);
  splits = ceil_div(p.k_tiles, tps);
  p.splits = int(splits);
  p.tiles_per_split = int(tps);
  p.chunk_tiles = int(std::min<int64_t>(tps, max_chunk));
  if (splits > 1) {
    ctx.ensure_split(n, base);
    p.split_acc = ctx.split_acc;
    p.split_ld = ctx.split_n;
    p.counters = ctx.split_counters;
  }
  const int64_t grid = base * splits;
  BITFOLD_CU_CHECK(grid < (int64_t(1) << 31), "grid too large");
  skeleton_kernel<Pol, NT><<<unsigned(grid), 128, size_t(Pol::template smem_bytes<NT>(p.chunk_tiles)), stream>>>(p);
  BITFOLD_CUDA_LAUNCH_CHECK();
}

}  // namespace bitfold::kernels::detail
