// Route (a) for small M: frag-packed p-bit weights -> int8 mma.sync (decode_skeleton.cuh).
#include <algorithm>

#include "kernels/decode_skeleton.cuh"

namespace bitfold::kernels {

namespace detail {

// M <= 8: the latency-bound case. One CTA = one 16-row tile and 8 warps that split K; each warp
// issues its weight tiles AND the matching activation words together, a batch ahead, so a call
// costs one DRAM round trip plus a shared-memory reduction: no staging barrier, no split-K
// atomics, no ticket. Weights are in the decode k order, so a lane's eight B-fragment words are
// 32 contiguous activation bytes (two 16-byte loads that hit L1/L2: every CTA reads the same X),
// and they stay offset-binary (v = w + 2^(p-1), shift + mask to unpack) in an unsigned x signed
// mma; a second mma against all-ones gives sum_k x, and acc - 2^(p-1) sum_k x is the result.
struct DirectParams {
  const uint8_t* w;
  int64_t k_tiles, row_tiles, n, m, k;
  const int8_t* x;
  int64_t ldx;
  Epilogue epi;
};

template <int P>
struct DirectBatch {
  // tiles per load batch: as many as fit in the 128-register budget next to the next batch
  static constexpr int kTiles = P <= 3 ? 3 : 2;
  FragData<P> w[kTiles];
  uint32_t x[kTiles][8];  // [2 s + h]: B fragment register h of k32 step s
};

// The 32 activation bytes [k0, k0 + 32) of one row, zero past k_total.
__device__ __forceinline__ void load_x32(const int8_t* row, int64_t k0, int64_t k_total, uint32_t (&x)[8]) {
  if (k0 + 32 <= k_total) {
    const uint4 a = *reinterpret_cast<const uint4*>(row + k0);
    const uint4 b = *reinterpret_cast<const uint4*>(row + k0 + 16);
    x[0] = a.x, x[1] = a.y, x[2] = a.z, x[3] = a.w, x[4] = b.x, x[5] = b.y, x[6] = b.z, x[7] = b.w;
    return;
  }
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    uint32_t v = 0;
    for (int c = 0; c < 4; ++c) {
      const int64_t k = k0 + 4 * j + c;
      if (k < k_total) v |= uint32_t(uint8_t(row[k])) << (8 * c);
    }
    x[j] = v;
  }
}

template <int P>
__global__ void __launch_bounds__(256, 2) decode_direct_kernel(const DirectParams p) {
  constexpr int T = DirectBatch<P>::kTiles;
  constexpr uint32_t kOnes[4] = {0x01010101u, 0x01010101u, 0x01010101u, 0x01010101u};
  // Partial sums of the 8 warps, double-buffered by row-tile parity (see the barrier below).
  __shared__ int red[2][8][8][32];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, tq = lane & 3;
  const int64_t t0 = p.k_tiles * warp / 8, t1 = p.k_tiles * (warp + 1) / 8;
  const bool has_tok = g < p.m;
  const int8_t* xrow = p.x + (has_tok ? g : 0) * p.ldx;
  const int64_t stride = gridDim.x;

  auto load = [&](int64_t rt, int64_t t, DirectBatch<P>& b) {
    const uint8_t* wrow = p.w + rt * p.k_tiles * (256 * P);
#pragma unroll
    for (int i = 0; i < T; ++i) {
      if (t + i >= t1) break;
      load_frag<P, true>(wrow + (t + i) * (256 * P), lane, b.w[i]);
      if (has_tok) {
        load_x32(xrow, (t + i) * 128 + 32 * tq, p.k, b.x[i]);
      } else {
#pragma unroll
        for (int j = 0; j < 8; ++j) b.x[i][j] = 0;
      }
    }
  };
  // Persistent CTAs: row tiles blockIdx.x, + gridDim.x, ...; each warp streams its k range of
  // one row tile after the other, the next batch always in flight, across row-tile boundaries.
  DirectBatch<P> cur, nxt;
  if (int64_t(blockIdx.x) < p.row_tiles && t0 < t1) load(blockIdx.x, t0, cur);
  int parity = 0;
  for (int64_t rt = blockIdx.x; rt < p.row_tiles; rt += stride) {
    int acc[4] = {0, 0, 0, 0}, sum[4] = {0, 0, 0, 0};
    for (int64_t t = t0; t < t1; t += T) {
      if (t + T < t1)
        load(rt, t + T, nxt);
      else if (rt + stride < p.row_tiles)
        load(rt + stride, t0, nxt);
#pragma unroll
      for (int i = 0; i < T; ++i) {
        if (t + i >= t1) break;
#pragma unroll
        for (int s = 0; s < 4; ++s) {
          uint32_t a[4];
#pragma unroll
          for (int r = 0; r < 4; ++r) a[r] = unpack_unit_u<P>(cur.w[i], 4 * s + r);
          mma_u8s8(acc, a, cur.x[i][2 * s], cur.x[i][2 * s + 1]);
          mma_u8s8(sum, kOnes, cur.x[i][2 * s], cur.x[i][2 * s + 1]);
        }
      }
      cur = nxt;
    }
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      red[parity][warp][r][lane] = acc[r];
      red[parity][warp][4 + r][lane] = sum[r];
    }
    // After this barrier warp 0 reads buffer `parity` while the others go on into the next row
    // tile and write the other buffer; nobody writes `parity` again before passing the next
    // barrier, which warp 0 reaches only after its reads.
    __syncthreads();
    if (warp == 0) {
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        int v = 0, sx = 0;
#pragma unroll
        for (int w = 0; w < 8; ++w) v += red[parity][w][r][lane], sx += red[parity][w][4 + r][lane];
        const int64_t n = rt * 16 + g + 8 * (r >> 1), m = 2 * tq + (r & 1);
        if (n < p.n && m < p.m) store_out(p.epi, m, n, v - (1 << (P - 1)) * sx);
      }
    }
    parity ^= 1;
  }
}

// The default M <= 8 kernel: persistent CTAs of 8 warps that split K, like the direct kernel, but
// (1) the prefetch depth lives in shared memory: each lane cp.async-copies exactly the bytes it
//     will read back (its own weight-fragment bytes), so cp.async.wait_group alone orders the
//     ring and no lane waits on another;
// (2) a warp handles RT row tiles at once (RT = 2 when there is enough work): the activation
//     fragments are shared and the RT mma chains are independent;
// (3) the activations are staged once per CTA when M x K fits (XS), else copied per tile;
// (4) sum_k x for the offset correction comes from an all-ones mma during the first row tile
//     only (a warp's k range is the same for every row tile).
// Measured in bench/results/kernels-h200.md against the direct (register prefetch) and staged
// (split-K) kernels.
template <int P, int RT>
struct AsyncRing {
  static constexpr int kDepth = RT == 2 ? (P <= 3 ? 4 : (P <= 4 ? 3 : 2)) : (P <= 2 ? 6 : (P <= 4 ? 4 : (P <= 6 ? 3 : 2)));
};

template <int P, int RT, bool XS>
__global__ void __launch_bounds__(256, 3) decode_async_kernel(const DirectParams p, int slot_bytes, int xs_ld) {
  constexpr int D = AsyncRing<P, RT>::kDepth;
  constexpr uint32_t kOnes[4] = {0x01010101u, 0x01010101u, 0x01010101u, 0x01010101u};
  extern __shared__ __align__(16) uint8_t dyn[];
  __shared__ int red[2][8][4 * RT][32];
  __shared__ int red_sum[8][4][32];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, tq = lane & 3;
  uint8_t* xstage = dyn;                                    // XS: [m][xs_ld]
  uint8_t* ring = dyn + (XS ? p.m * xs_ld : 0) + warp * D * slot_bytes;
  const int t0 = int(p.k_tiles * warp / 8), t1 = int(p.k_tiles * (warp + 1) / 8), nt = t1 - t0;
  const bool has_tok = g < p.m;
  const int8_t* xrow = p.x + (has_tok ? g : 0) * p.ldx;
  const int64_t groups = ceil_div(p.row_tiles, RT);        // items: groups of RT row tiles
  const int64_t stride = gridDim.x;
  const int64_t n_items = int64_t(blockIdx.x) < groups ? (groups - blockIdx.x + stride - 1) / stride : 0;
  const int64_t total = n_items * nt;
  const int64_t tile_row = p.k_tiles * (256 * P);          // bytes of one row tile

  if constexpr (XS) {
    // The whole activation block, zero past K, 16 bytes per thread per step.
    const int cols16 = xs_ld / 16;
    for (int i = threadIdx.x; i < p.m * cols16; i += blockDim.x) {
      const int row = i / cols16, c16 = i % cols16;
      const int64_t k = int64_t(c16) * 16;
      uint4 v = make_uint4(0, 0, 0, 0);
      if (k + 16 <= p.k) {
        v = *reinterpret_cast<const uint4*>(p.x + row * p.ldx + k);
      } else if (k < p.k) {
        uint8_t b[16];
        for (int j = 0; j < 16; ++j) b[j] = (k + j < p.k) ? uint8_t(p.x[row * p.ldx + k + j]) : uint8_t(0);
        v = *reinterpret_cast<const uint4*>(b);
      }
      *reinterpret_cast<uint4*>(xstage + row * xs_ld + c16 * 16) = v;
    }
  }

  int64_t is_pos = 0, is_group = blockIdx.x;
  int is_t = t0;
  auto issue = [&]() {
    if (is_pos < total) {
      uint8_t* slot = ring + int(is_pos % D) * slot_bytes;
#pragma unroll
      for (int j = 0; j < RT; ++j) {
        const int64_t rt = is_group * RT + j;
        if (rt >= p.row_tiles) break;
        const uint8_t* tile = p.w + rt * tile_row + int64_t(is_t) * (256 * P);
        uint8_t* dst = slot + j * (256 * P);
#pragma unroll
        for (int f = 8; f >= 1; f >>= 1) {
          if (!(P & f)) continue;
          const int off = 256 * (P & ~(2 * f - 1));
          if (f >= 2) {
#pragma unroll
            for (int v = 0; v < f / 2; ++v) cp_async16(dst + off + 512 * v + 16 * lane, tile + off + 512 * v + 16 * lane, 16);
          } else {
            cp_async8(dst + off + 8 * lane, tile + off + 8 * lane);
          }
        }
      }
      if (!XS && has_tok) {
        const int64_t k0 = int64_t(is_t) * 128 + 32 * tq;
        const int b0 = int(std::max<int64_t>(0, std::min<int64_t>(16, p.k - k0)));
        const int b1 = int(std::max<int64_t>(0, std::min<int64_t>(16, p.k - k0 - 16)));
        uint8_t* xs = slot + RT * 256 * P + 32 * lane;
        cp_async16(xs, b0 > 0 ? xrow + k0 : xrow, b0);
        cp_async16(xs + 16, b1 > 0 ? xrow + k0 + 16 : xrow, b1);
      }
      ++is_pos;
      if (++is_t == t1) is_t = t0, is_group += stride;
    }
    cp_async_commit();
  };

#pragma unroll
  for (int d = 0; d < D - 1; ++d) issue();
  if constexpr (XS) __syncthreads();  // the activation stage is complete
  int64_t pos = 0;
  int parity = 0;
  int sx[4] = {0, 0, 0, 0};  // warp 0: sum_k x of the token of each accumulator register
  for (int64_t item = 0; item < n_items; ++item) {
    const int64_t group = blockIdx.x + item * stride;
    const bool has_second = RT == 2 && group * RT + 1 < p.row_tiles;
    int acc[RT][4] = {}, sum[4] = {0, 0, 0, 0};
    for (int t = t0; t < t1; ++t, ++pos) {
      issue();
      cp_async_wait<D - 1>();
      const uint8_t* slot = ring + int(pos % D) * slot_bytes;
      uint32_t xw[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      if (has_tok) {
        const uint8_t* src = XS ? xstage + g * xs_ld + t * 128 + 32 * tq : slot + RT * 256 * P + 32 * lane;
        const uint4 a = *reinterpret_cast<const uint4*>(src);
        const uint4 b = *reinterpret_cast<const uint4*>(src + 16);
        xw[0] = a.x, xw[1] = a.y, xw[2] = a.z, xw[3] = a.w, xw[4] = b.x, xw[5] = b.y, xw[6] = b.z, xw[7] = b.w;
      }
      FragData<P> fd[RT];
      load_frag<P, false>(slot, lane, fd[0]);
      if (RT == 2 && has_second) load_frag<P, false>(slot + 256 * P, lane, fd[RT - 1]);
#pragma unroll
      for (int s = 0; s < 4; ++s) {
#pragma unroll
        for (int j = 0; j < RT; ++j) {
          if (j == 1 && !has_second) break;
          uint32_t a[4];
#pragma unroll
          for (int r = 0; r < 4; ++r) a[r] = unpack_unit_u<P>(fd[j], 4 * s + r);
          mma_u8s8(acc[j], a, xw[2 * s], xw[2 * s + 1]);
        }
        if (item == 0) mma_u8s8(sum, kOnes, xw[2 * s], xw[2 * s + 1]);
      }
    }
#pragma unroll
    for (int j = 0; j < RT; ++j)
#pragma unroll
      for (int r = 0; r < 4; ++r) red[parity][warp][4 * j + r][lane] = acc[j][r];
    if (item == 0) {
#pragma unroll
      for (int r = 0; r < 4; ++r) red_sum[warp][r][lane] = sum[r];
    }
    __syncthreads();  // double-buffered by parity, as in decode_direct_kernel
    if (warp == 0) {
      if (item == 0) {
#pragma unroll
        for (int r = 0; r < 4; ++r)
#pragma unroll
          for (int w = 0; w < 8; ++w) sx[r] += red_sum[w][r][lane];
      }
#pragma unroll
      for (int j = 0; j < RT; ++j) {
        const int64_t rt = group * RT + j;
#pragma unroll
        for (int r = 0; r < 4; ++r) {
          int v = 0;
#pragma unroll
          for (int w = 0; w < 8; ++w) v += red[parity][w][4 * j + r][lane];
          const int64_t n = rt * 16 + g + 8 * (r >> 1), m = 2 * tq + (r & 1);
          if (rt < p.row_tiles && n < p.n && m < p.m) store_out(p.epi, m, n, v - (1 << (P - 1)) * sx[r]);
        }
      }
    }
    parity ^= 1;
  }
  cp_async_wait<0>();
}

template <int P, int RT, bool XS>
void launch_async_cfg(const DirectParams& p, Stream stream) {
  const int xs_ld = XS ? int(round_up(p.k, 128)) + 16 : 0;
  const int slot_bytes = RT * 256 * P + (XS ? 0 : 128 * int(p.m));
  const int smem = (XS ? int(p.m) * xs_ld : 0) + 8 * AsyncRing<P, RT>::kDepth * slot_bytes;
  auto* kernel = decode_async_kernel<P, RT, XS>;
  static int configured_smem = 0;
  if (smem > configured_smem) {
    BITFOLD_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    configured_smem = smem;
  }
  int per_sm = 0;
  BITFOLD_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, 256, smem));
  const int64_t grid = std::min<int64_t>(ceil_div(p.row_tiles, RT), int64_t(std::max(1, per_sm)) * sm_count());
  kernel<<<unsigned(grid), 256, smem, stream>>>(p, slot_bytes, xs_ld);
  BITFOLD_CUDA_LAUNCH_CHECK();
}

template <int P>
void launch_async(const FragWeight& w, const Int8Act& x, const Epilogue& epi, Stream stream) {
  DirectParams p{};
  p.w = w.data;
  p.k_tiles = ceil_div(w.k, 128);
  p.row_tiles = ceil_div(w.n, 16);
  p.n = w.n;
  p.m = x.m;
  p.k = x.k;
  p.x = x.data;
  p.ldx = x.ld;
  p.epi = epi;
  BITFOLD_CU_CHECK(p.k_tiles < (int64_t(1) << 24), "K too large");
  // Pairs of row tiles when there are enough of them for ~3 CTAs per SM; the activations staged
  // when they take at most 64 KB.
  const bool pairs = p.row_tiles >= 2 * 3 * int64_t(sm_count());
  const bool stage_x = x.m * (round_up(x.k, 128) + 16) <= 64 * 1024;
  if (pairs && stage_x)
    launch_async_cfg<P, 2, true>(p, stream);
  else if (pairs)
    launch_async_cfg<P, 2, false>(p, stream);
  else if (stage_x)
    launch_async_cfg<P, 1, true>(p, stream);
  else
    launch_async_cfg<P, 1, false>(p, stream);
}

template <int P>
void launch_direct(const FragWeight& w, const Int8Act& x, const Epilogue& epi, Stream stream) {
  DirectParams p{};
  p.w = w.data;
  p.k_tiles = ceil_div(w.k, 128);
  p.row_tiles = ceil_div(w.n, 16);
  p.n = w.n;
  p.m = x.m;
  p.k = x.k;
  p.x = x.data;
  p.ldx = x.ld;
  p.epi = epi;
  // Two CTAs of 8 warps per SM (the register limit), persistent over the row tiles.
  const int64_t grid = std::min<int64_t>(p.row_tiles, 2 * int64_t(sm_count()));
  decode_direct_kernel<P><<<unsigned(grid), 256, 0, stream>>>(p);
  BITFOLD_CUDA_LAUNCH_CHECK();
}

}  // namespace detail

namespace {
template <int P>
void run_decode(GemmContext& ctx, const FragWeight& w, const Int8Act& x, const Epilogue& epi,
                Stream stream, const DecodeTuning& tuning) {
  using detail::Int8FragPolicy;
  if (x.m <= 8 && tuning.kernel == DecodeKernel::Async)
    detail::launch_async<P>(w, x, epi, stream);
  else if (x.m <= 8 && tuning.kernel == DecodeKernel::Direct)
    detail::launch_direct<P>(w, x, epi, stream);
  else if (x.m <= 8)
    detail::launch_skeleton<Int8FragPolicy<P>, 1>(ctx.impl(), w.data, w.n, w.k, x.data, x.ld, x.m, epi, stream, tuning);
  else if (x.m <= 16)
    detail::launch_skeleton<Int8FragPolicy<P>, 2>(ctx.impl(), w.data, w.n, w.k, x.data, x.ld, x.m, epi, stream, tuning);
  else
    detail::launch_skeleton<Int8FragPolicy<P>, 4>(ctx.impl(), w.data, w.n, w.k, x.data, x.ld, x.m, epi, stream, tuning);
}
}  // namespace

void gemm_decode(GemmContext& ctx, const FragWeight& w, const Int8Act& x, const Epilogue& epi,
                 Stream stream, const DecodeTuning& tuning) {
  if (w.order != FragOrder::Decode) detail::fail_rt("gemm_decode: the weights must be packed in FragOrder::Decode");
  if (w.k != x.k) detail::fail_rt("gemm_decode: weight K {} != activation K {}", w.k, x.k);
  if (x.ld % 16 != 0) detail::fail_rt("gemm_decode: activation leading dimension {} is not a multiple of 16", x.ld);
  if (!epi.w_scale && (epi.y_f16 || epi.y_f32)) detail::fail_rt("gemm_decode: w_scale is required");
  if (x.m == 0 || w.n == 0) return;
  switch (w.bits) {
    case 2: return run_decode<2>(ctx, w, x, epi, stream, tuning);
    case 3: return run_decode<3>(ctx, w, x, epi, stream, tuning);
    case 4: return run_decode<4>(ctx, w, x, epi, stream, tuning);
    case 6: return run_decode<6>(ctx, w, x, epi, stream, tuning);
    case 8: return run_decode<8>(ctx, w, x, epi, stream, tuning);
    default: detail::fail_rt("gemm_decode: {}-bit weights are not instantiated (2, 3, 4, 6, 8)", w.bits);
  }
}

}  // namespace bitfold::kernels
