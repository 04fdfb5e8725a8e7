// Decode (M <= 32) by streaming through the copy engine: an experiment that LOST to the direct
// register-prefetch kernel on the H200 (bench/results/kernels-h200.md, decode-bulk-* rows; W4A4
// M = 1, 7B qkv: 18.5 us in its best configuration against 12.4 us). It stays as a measured,
// tested variant (DecodeKernel::Bulk) for the next attempt; docs/kernels.md has the analysis.
//
// The idea: the register-prefetch kernels spend ~0.1-0.2 ns of GPU time per 16 x 128 tile on
// loads, address arithmetic and the sum_k x mma and keep only a batch or two of loads in flight
// per warp, so the copy engine should do the moving:
// - A CTA's row tiles are consecutive, and in the frag layout a row tile's whole K range is one
//   contiguous run, so the CTA's weights are ONE contiguous byte range. One thread streams it
//   into a ring of ~16 KB shared-memory stages with cp.async.bulk (one or more copies per stage,
//   completion counted on an mbarrier): up to 7 stages = 112 KB in flight per SM.
// - The activations (M x K int8) are staged in shared memory once per CTA (row stride = 16 mod
//   128 bytes: the B-fragment loads of a warp hit all 32 banks once), with sum_k x per token, so
//   the offset-binary correction acc - 2^(p-1) sum_k x costs nothing per tile.
// - Per 16 x 128 tile a warp issues p/2 16-byte shared loads of weights, two per 8 tokens of
//   activations, 16 unpacks (shift + mask per field) and 4 mma.m16n8k32 per 8 tokens, with two
//   accumulator chains (or, DP4A, 16 dp4a per token).
// - One or two CTAs per SM (grid = min(row tiles, CTAs)): no split-K and no atomics across CTAs.
// Warp w takes tiles w, w + W, ... of each stage; a stage may hold the end of one row tile and
// the start of the next, so each warp adds its partial sums for a row tile into a shared-memory
// accumulator slot (atomicAdd) when it leaves that row tile; after the stage's barrier, the row
// tiles that are now complete are written by the epilogue and their slots zeroed.
// What was measured: DRAM at 28% of peak (ncu, 7B gate_up W4A4 M = 1, 16 warps) with 112 KB in
// flight per SM, and the time per 16 KB stage growing with the tiles in it; one copy per tile or
// per 4 KB instead of per stage changed nothing, a second CTA per SM gained ~25%, dp4a equalled
// mma. The lockstep of a CTA on its stages (every warp waits for the same copy, two barriers per
// stage) is the suspect; a warp-specialized version (producer warp, per-warp consumers without
// CTA barriers) is the next thing to measure.
#include <algorithm>

#include "kernels/decode_bulk.h"
#include "kernels/device_common.cuh"

namespace bitfold::kernels::detail {

namespace {

// ~16 KB stages, at least one tile per warp.
template <int P, int W>
struct BulkShape {
  static constexpr int kTileBytes = 256 * P;
  static constexpr int kTilesPerStage = std::max(W, 16384 / kTileBytes);  // W = 8: 32, 21, 16, 10, 8
  static constexpr int kStageBytes = kTilesPerStage * kTileBytes;
};
constexpr int kMaxStages = 8, kMinStages = 3;
constexpr int kHeaderBytes = 256;  // mbarriers (64 B) and sum_k x per token (128 B)

struct BulkParams {
  const uint8_t* w;
  int k_tiles, row_tiles;
  int64_t n;
  int m;
  int64_t k;
  const int8_t* x;
  int64_t ldx;
  int xs_ld;      // bytes per staged activation row
  int stages;     // ring depth
  int slots;      // row-tile accumulator slots
  int red_bytes;  // slots x NB x 128 ints, rounded up to 128 bytes
  int chunk_bytes;  // bytes per bulk copy (a multiple of the tile size); a stage takes one or more
  Epilogue epi;
};

// d = a · b + c over four byte lanes, a unsigned (offset-binary weights), b signed (activations).
__device__ __forceinline__ int dp4a_us(uint32_t a, uint32_t b, int c) {
  int d;
  asm("dp4a.u32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
  return d;
}

// P: weight bits; NB: blocks of 8 tokens (mma) ; W: warps per CTA; DP4A: the products by dp4a
// (NB = 1 only: each lane multiplies its unpacked codes with the activations of every token)
// instead of mma.m16n8k32.
template <int P, int NB, int W, bool DP4A>
__global__ void __launch_bounds__(32 * W, 1) decode_bulk_kernel(const BulkParams p) {
  static_assert(!DP4A || NB == 1);
  constexpr int kWarps = W, kThreads = 32 * W;
  using S = BulkShape<P, W>;
  constexpr int TB = S::kTileBytes, TPS = S::kTilesPerStage;
  extern __shared__ __align__(128) uint8_t smem[];
  uint64_t* bars = reinterpret_cast<uint64_t*>(smem);
  int* sx = reinterpret_cast<int*>(smem + 64);
  int* red = reinterpret_cast<int*>(smem + kHeaderBytes);  // [slot][NB][4][32]
  uint8_t* ring = smem + kHeaderBytes + p.red_bytes;
  uint8_t* xs = ring + p.stages * S::kStageBytes;          // [m][xs_ld]

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, tq = lane & 3;
  const int rt_begin = int(int64_t(blockIdx.x) * p.row_tiles / gridDim.x);
  const int rt_end = int(int64_t(blockIdx.x + 1) * p.row_tiles / gridDim.x);
  const int total = (rt_end - rt_begin) * p.k_tiles;  // this CTA's tiles, contiguous in memory
  const int n_stages = (total + TPS - 1) / TPS;
  const uint8_t* src = p.w + int64_t(rt_begin) * p.k_tiles * TB;

  // Thread 0 owns the ring: stage s goes to buffer s % stages, whose barrier then completes its
  // (s / stages)-th phase.
  auto issue = [&](int s) {
    const unsigned bytes = unsigned(min(TPS, total - s * TPS)) * TB;
    uint64_t* bar = &bars[s % p.stages];
    mbar_arrive_expect_tx(bar, bytes);
    uint8_t* dst = ring + (s % p.stages) * S::kStageBytes;
    const uint8_t* from = src + int64_t(s) * TPS * TB;
    for (unsigned off = 0; off < bytes; off += unsigned(p.chunk_bytes))
      bulk_copy_g2s(dst + off, from + off, min(unsigned(p.chunk_bytes), bytes - off), bar);
  };
  if (threadIdx.x == 0) {
    for (int s = 0; s < p.stages; ++s) mbar_init(&bars[s], 1);
    fence_mbarrier_init();
    for (int s = 0; s < min(p.stages, n_stages); ++s) issue(s);
  }

  // While the first stages stream in: zero the accumulators, stage X (zero past K), sum_k x.
  for (int i = threadIdx.x; i < p.red_bytes / 4; i += kThreads) red[i] = 0;
  const int c16 = p.k_tiles * 8;  // 16-byte columns of a padded row
  for (int i = threadIdx.x; i < p.m * c16; i += kThreads) {
    const int row = i / c16, c = i - row * c16;
    const int64_t k0 = int64_t(c) * 16;
    const int8_t* xr = p.x + row * p.ldx;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (k0 + 16 <= p.k) {
      v = *reinterpret_cast<const uint4*>(xr + k0);
    } else if (k0 < p.k) {
      uint32_t b[4] = {0, 0, 0, 0};
#pragma unroll
      for (int j = 0; j < 16; ++j)
        if (k0 + j < p.k) b[j >> 2] |= uint32_t(uint8_t(xr[k0 + j])) << (8 * (j & 3));
      v = make_uint4(b[0], b[1], b[2], b[3]);
    }
    *reinterpret_cast<uint4*>(xs + row * p.xs_ld + c * 16) = v;
  }
  __syncthreads();  // also publishes the initialized barriers to every thread
  for (int row = warp; row < p.m; row += kWarps) {
    int s = 0;
    for (int c = lane; c < c16 * 4; c += 32) s = __dp4a(*reinterpret_cast<const int*>(xs + row * p.xs_ld + 4 * c), 0x01010101, s);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (lane == 0) sx[row] = s;
  }  // sx is read after the first stage's barrier

  // mma: accumulator fragments, two chains (even / odd k32 steps). dp4a: per token, one sum per
  // unpacked register r (rows g + 8 (r & 1)) over this lane's quarter of k.
  int acc[NB][2][4];
  int dacc[8][4];
#pragma unroll
  for (int b = 0; b < NB; ++b)
#pragma unroll
    for (int c = 0; c < 2; ++c)
#pragma unroll
      for (int r = 0; r < 4; ++r) acc[b][c][r] = 0;
#pragma unroll
  for (int t = 0; t < 8; ++t)
#pragma unroll
    for (int r = 0; r < 4; ++r) dacc[t][r] = 0;
  // Adds this warp's partial sums for local row tile `lr` into its slot ([b][r][lane]: the mma
  // accumulator layout, row 16 rt + g + 8 (r >> 1), token 8 b + 2 tq + (r & 1)) and clears them.
  auto flush = [&](int lr) {
    int* cell = red + (lr % p.slots) * NB * 128;
    if constexpr (DP4A) {
#pragma unroll
      for (int t = 0; t < 8; ++t) {
        if (t >= p.m) break;  // uniform
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          int v = dacc[t][h] + dacc[t][h + 2];
          v += __shfl_xor_sync(0xffffffffu, v, 1);
          v += __shfl_xor_sync(0xffffffffu, v, 2);
          if (tq == 0) atomicAdd(cell + (2 * h + (t & 1)) * 32 + 4 * g + (t >> 1), v);
        }
#pragma unroll
        for (int r = 0; r < 4; ++r) dacc[t][r] = 0;
      }
    } else {
#pragma unroll
      for (int b = 0; b < NB; ++b)
#pragma unroll
        for (int r = 0; r < 4; ++r) {
          if (8 * b + 2 * tq + (r & 1) < p.m) atomicAdd(cell + (b * 4 + r) * 32 + lane, acc[b][0][r] + acc[b][1][r]);
          acc[b][0][r] = acc[b][1][r] = 0;
        }
    }
  };

  int emitted = 0;  // local row tiles already written
  for (int s = 0; s < n_stages; ++s) {
    const int buf = s % p.stages;
    mbar_wait(&bars[buf], unsigned(s / p.stages) & 1u);
    const int t0 = s * TPS, cnt = min(TPS, total - t0);
    const uint8_t* stage = ring + buf * S::kStageBytes;
    if (warp < cnt) {
      const int first = t0 + warp;
      int lr = first / p.k_tiles, kt = first - lr * p.k_tiles, cur = lr;
      for (int j = warp; j < cnt; j += kWarps) {
        if (lr != cur) flush(cur), cur = lr;
        FragData<P> fd;
        load_frag<P, false>(stage + j * TB, lane, fd);
        if constexpr (DP4A) {
          // Lane (g, tq) holds rows g, g + 8 at k = 32 tq + [0, 32) (decode order): the same 32
          // activation bytes for every g, one broadcast load pair per token.
          uint32_t a[16];
#pragma unroll
          for (int u = 0; u < 16; ++u) a[u] = unpack_unit_u<P>(fd, u);
#pragma unroll
          for (int t = 0; t < 8; ++t) {
            if (t >= p.m) break;  // uniform
            const uint8_t* xp = xs + t * p.xs_ld + kt * 128 + 32 * tq;
            const uint4 lo = *reinterpret_cast<const uint4*>(xp);
            const uint4 hi = *reinterpret_cast<const uint4*>(xp + 16);
            const uint32_t xv[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
#pragma unroll
            for (int u = 0; u < 16; ++u) {
              const int k32 = u >> 2, r = u & 3;
              dacc[t][r] = dp4a_us(a[u], xv[2 * k32 + (r >> 1)], dacc[t][r]);
            }
          }
        } else {
          uint32_t xw[NB][8];
#pragma unroll
          for (int b = 0; b < NB; ++b) {
            const int tok = 8 * b + g;
            if (tok < p.m) {
              const uint8_t* xp = xs + tok * p.xs_ld + kt * 128 + 32 * tq;
              const uint4 lo = *reinterpret_cast<const uint4*>(xp);
              const uint4 hi = *reinterpret_cast<const uint4*>(xp + 16);
              xw[b][0] = lo.x, xw[b][1] = lo.y, xw[b][2] = lo.z, xw[b][3] = lo.w;
              xw[b][4] = hi.x, xw[b][5] = hi.y, xw[b][6] = hi.z, xw[b][7] = hi.w;
            } else {
#pragma unroll
              for (int i = 0; i < 8; ++i) xw[b][i] = 0;
            }
          }
#pragma unroll
          for (int k32 = 0; k32 < 4; ++k32) {
            uint32_t a[4];
#pragma unroll
            for (int r = 0; r < 4; ++r) a[r] = unpack_unit_u<P>(fd, 4 * k32 + r);
#pragma unroll
            for (int b = 0; b < NB; ++b) mma_u8s8(acc[b][k32 & 1], a, xw[b][2 * k32], xw[b][2 * k32 + 1]);
          }
        }
        kt += kWarps;
        while (kt >= p.k_tiles) kt -= p.k_tiles, ++lr;
      }
      flush(cur);
    }
    __syncthreads();  // the stage's buffer is consumed and its partial sums are in `red`
    if (threadIdx.x == 0 && s + p.stages < n_stages) issue(s + p.stages);
    // Row tiles whose last tile was in this stage: the epilogue, then their slots are cleared.
    const int done = (t0 + cnt) / p.k_tiles;
    const int items = (done - emitted) * NB * 128;
    for (int i = threadIdx.x; i < items; i += kThreads) {
      const int lr = emitted + i / (NB * 128), e = i % (NB * 128);
      const int b = e >> 7, r = (e >> 5) & 3, ln = e & 31;
      int* cell = red + (lr % p.slots) * NB * 128 + e;
      const int v = *cell;
      *cell = 0;
      const int64_t n = int64_t(rt_begin + lr) * 16 + (ln >> 2) + 8 * (r >> 1);
      const int m = 8 * b + 2 * (ln & 3) + (r & 1);
      if (n < p.n && m < p.m) store_out(p.epi, m, n, v - (1 << (P - 1)) * sx[m]);
    }
    emitted = done;
    __syncthreads();  // cleared slots before the next stage's flushes
  }
}

int smem_optin() {
  static const int bytes = [] {
    int device = 0, v = 0;
    BITFOLD_CUDA_CHECK(cudaGetDevice(&device));
    BITFOLD_CUDA_CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    return v;
  }();
  return bytes;
}

int smem_per_sm() {
  static const int bytes = [] {
    int device = 0, v = 0;
    BITFOLD_CUDA_CHECK(cudaGetDevice(&device));
    BITFOLD_CUDA_CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerMultiprocessor, device));
    return v;
  }();
  return bytes;
}

template <int P, int NB, int W, bool DP4A>
bool launch(const FragWeight& w, const Int8Act& x, const Epilogue& epi, Stream stream, int ctas_per_sm,
            int chunk_bytes) {
  using S = BulkShape<P, W>;
  BulkParams p{};
  p.w = w.data;
  p.k_tiles = int(ceil_div(w.k, 128));
  p.row_tiles = int(ceil_div(w.n, 16));
  p.n = w.n;
  p.m = int(x.m);
  p.k = x.k;
  p.x = x.data;
  p.ldx = x.ld;
  p.epi = epi;
  p.xs_ld = p.k_tiles * 128 + 16;
  p.slots = std::min(S::kTilesPerStage, (S::kTilesPerStage - 1) / p.k_tiles + 2);
  p.red_bytes = int(round_up(int64_t(p.slots) * NB * 128 * 4, 128));
  p.chunk_bytes = chunk_bytes <= 0 ? S::kStageBytes : int(std::max<int64_t>(1, chunk_bytes / S::kTileBytes)) * S::kTileBytes;
  const int64_t fixed = kHeaderBytes + p.red_bytes + int64_t(p.m) * p.xs_ld;
  // Shared memory per CTA: what the SM has for `ctas_per_sm` of them (1 KB per CTA is reserved).
  const int64_t budget = std::min<int64_t>(smem_optin(), smem_per_sm() / ctas_per_sm - 1024);
  const int64_t room = budget - fixed;
  p.stages = int(std::min<int64_t>(kMaxStages, room / S::kStageBytes));
  if (p.stages < kMinStages) return false;
  const int smem = int(fixed + int64_t(p.stages) * S::kStageBytes);
  auto* kernel = decode_bulk_kernel<P, NB, W, DP4A>;
  static int configured = 0;  // per instantiation
  if (smem > configured) {
    BITFOLD_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    configured = smem;
  }
  const int grid = std::min(p.row_tiles, ctas_per_sm * sm_count());
  kernel<<<unsigned(grid), 32 * W, smem, stream>>>(p);
  BITFOLD_CUDA_LAUNCH_CHECK();
  return true;
}

template <int P, int W>
bool launch_w(const FragWeight& w, const Int8Act& x, const Epilogue& epi, Stream stream, const BulkConfig& c) {
  if (x.m <= c.dp4a_max_m && x.m <= 8) return launch<P, 1, W, true>(w, x, epi, stream, c.ctas_per_sm, c.chunk_bytes);
  if (x.m <= 8) return launch<P, 1, W, false>(w, x, epi, stream, c.ctas_per_sm, c.chunk_bytes);
  if (x.m <= 16) return launch<P, 2, W, false>(w, x, epi, stream, c.ctas_per_sm, c.chunk_bytes);
  return launch<P, 4, W, false>(w, x, epi, stream, c.ctas_per_sm, c.chunk_bytes);
}

template <int P>
bool launch_p(const FragWeight& w, const Int8Act& x, const Epilogue& epi, Stream stream, const BulkConfig& c) {
  return c.warps == 16 ? launch_w<P, 16>(w, x, epi, stream, c) : launch_w<P, 8>(w, x, epi, stream, c);
}

}  // namespace

BulkConfig bulk_config(const DecodeTuning& t, int64_t m) {
  BulkConfig c = kBulkDefault;
  (void)m;
  if (t.bulk_warps) c.warps = t.bulk_warps;
  if (t.bulk_ctas_per_sm) c.ctas_per_sm = t.bulk_ctas_per_sm;
  if (t.bulk_dp4a_max_m >= 0) c.dp4a_max_m = t.bulk_dp4a_max_m;
  if (t.bulk_chunk_bytes) c.chunk_bytes = t.bulk_chunk_bytes;
  if (c.warps == 16) c.ctas_per_sm = 1;  // two CTAs of 512 threads do not fit the register file
  return c;
}

bool launch_decode_bulk(const FragWeight& w, const Int8Act& x, const Epilogue& epi, Stream stream,
                        const DecodeTuning& tuning) {
  if (x.m < 1 || x.m > 32 || reinterpret_cast<uintptr_t>(w.data) % 16 != 0) return false;
  if (ceil_div(w.n, 16) >= (int64_t(1) << 31) / std::max<int64_t>(1, ceil_div(w.k, 128))) return false;
  const BulkConfig c = bulk_config(tuning, x.m);
  switch (w.bits) {
    case 2: return launch_p<2>(w, x, epi, stream, c);
    case 3: return launch_p<3>(w, x, epi, stream, c);
    case 4: return launch_p<4>(w, x, epi, stream, c);
    case 6: return launch_p<6>(w, x, epi, stream, c);
    case 8: return launch_p<8>(w, x, epi, stream, c);
    default: return false;
  }
}

}  // namespace bitfold::kernels::detail
