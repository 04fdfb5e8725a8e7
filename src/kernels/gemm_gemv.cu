// Route (a) for M <= 4: the CUDA-core decode GEMV over the gemv layout (layout.h, GemvLayout).
//
// Decode is a stream of the weights: time >= weight bytes / ~4.25 TB/s. The frag-layout mma
// kernels paid a fixed instruction cost per 16 x 128 tile whatever p was; here a 16-byte load of
// the widest field is unpacked by one lop3 per 32-bit word and slot (no shifts: the slot's scale
// 2^(f s) stays in the product and is removed once per row, see the layout) and multiplied by
// dp4a against four activation bytes, so the work per weight byte shrinks with p.
#include <algorithm>

#include "kernels/device_common.cuh"
#include "kernels/layout.h"

namespace bitfold::kernels {

namespace detail {

struct GemvParams {
  const uint8_t* w;
  int64_t row_bytes;
  int64_t n;
  int64_t k;
  int kp;      // K padded to 128
  int chunks;  // chunks of a row (kp / C)
  int steps;   // warp steps of a row: 32 chunks each
  int m;
  const int8_t* x;
  int64_t ldx;
  int blocks;  // rows are split evenly over the blocks
  int groups;  // row groups of the largest block (shared-memory row sums)
  Epilogue epi;
};

// Per (p, M tile). MT: activation rows the kernel is compiled for (M <= MT). R rows per item
// share each activation read (shared memory serves 128 B per cycle; at M = 4 and R = 1 a 2-bit
// row would need 16 activation bytes per weight byte). U items per load batch; at M = 1 two
// batches in registers: the next batch is in flight while one is multiplied, so a lane keeps
// U..2U 16-byte loads in flight (W3 and W6 add an 8-byte load of the second field per item).
template <int P, int MT>
struct GemvConfig {
  static constexpr int kWide = gemv_widest_field(P);
  static constexpr int kChunk = 128 / kWide;            // codes per chunk (one 16-byte load)
  static constexpr int kPieces = kChunk / 16;           // 16-byte activation pieces per chunk
  static constexpr int kWords = 4 * P / kWide;          // weight words per chunk and row
  static constexpr int kRows = MT == 1 ? 1 : 2;
  // M = 1: two buffers of U items (measured: better than one of 2U on the 7B shapes with several
  // batches per warp); M > 1: one buffer (registers: R rows per item), loaded after it is used.
  static constexpr bool kDouble = MT == 1;
  static constexpr int kUnroll = (P == 3 || P == 6) ? 2 : 4;  // items per buffer
  static constexpr int kThreads = 512;
  static constexpr int kWarps = kThreads / 32;
  static constexpr int kMinBlocks = MT == 1 ? 2 : 1;    // registers: 64 at M = 1, else 128
};

constexpr int field_off(int p, int f) { return p & ~(2 * f - 1); }
constexpr int field_words(int p, int f) { return 4 * f / gemv_widest_field(p); }
constexpr int field_word_base(int p, int f) { return 4 * field_off(p, f) / gemv_widest_field(p); }
// The bit position of slot s of field f as the product sees it: 1-bit fields read their odd
// slots from word >> 1 (one shift per word), which halves the number of distinct scales.
constexpr int slot_shift(int f, int s) { return f == 1 ? (s & ~1) : f * s; }
// The product of slot s of field f carries the scale 2^(slot_shift); the code's bits are worth
// 2^off: accumulator index e + 8 collects the products that need a scale 2^e.
constexpr int slot_acc(int p, int f, int s) { return field_off(p, f) - slot_shift(f, s) + 8; }
constexpr int kAccs = 16;

__device__ __forceinline__ int dp4a_us(uint32_t a, uint32_t b, int c) {
  int d;
  asm("dp4a.u32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
  return d;
}

__device__ __forceinline__ uint32_t ldg_stream4(const void* p) {
  uint32_t v;
  asm("ld.global.nc.L1::no_allocate.u32 %0, [%1];" : "=r"(v) : "l"(p));
  return v;
}


// The sum of v[i] over the warp for V values at once: halving exchanges (V/2 + V/4 + ... + 1
// shuffles, then plain ones) instead of 5 shuffles per value. Every lane ends with the total of
// value `index`, returned; lanes with lane % (32 / V) == 0 hold each index once.
template <int V>
__device__ __forceinline__ int warp_sum_many(int (&v)[V], int lane, int& index) {
  index = 0;
  int n = V;
#pragma unroll
  for (int d = 16; d >= 1; d >>= 1) {
    if (n > 1) {
      const bool upper = lane & d;
      const int half = n / 2;
#pragma unroll
      for (int i = 0; i < V / 2; ++i) {
        if (i >= half) break;
        const int send = upper ? v[i] : v[i + half];
        const int keep = upper ? v[i + half] : v[i];
        v[i] = keep + __shfl_xor_sync(0xffffffffu, send, d);
      }
      if (upper) index += half;
      n = half;
    } else {
      v[0] += __shfl_xor_sync(0xffffffffu, v[0], d);
    }
  }
  return v[0];
}

// The epilogue's per-output operands (store_out's, loaded ahead of the accumulator).
struct EpilogueOperands {
  float w_scale = 0, x_scale = 1, bias = 0, residual = 0;
};
__device__ __forceinline__ EpilogueOperands load_epilogue_operands(const Epilogue& e, int64_t m, int64_t n) {
  EpilogueOperands o;
  if (e.w_scale) o.w_scale = e.w_scale[n];
  if (e.x_scale) o.x_scale = e.x_scale[m];
  if (e.bias) o.bias = e.bias[n];
  if (e.residual) o.residual = __half2float(reinterpret_cast<const __half*>(e.residual)[m * e.ld_residual + n]);
  return o;
}
// store_out with the operands given: the same operations in the same order (epi_value).
__device__ __forceinline__ void store_out_with(const Epilogue& e, int64_t m, int64_t n, int32_t acc,
                                               const EpilogueOperands& o) {
  if (e.y_i32) e.y_i32[m * e.ld_i32 + n] = acc;
  if (!e.y_f16 && !e.y_f32) return;
  float v = float(acc) * o.w_scale;
  if (e.x_scale) v *= o.x_scale;
  if (e.bias) v += o.bias;
  if (e.residual) v += o.residual;
  if (e.y_f32) e.y_f32[m * e.ld_f32 + n] = v;
  if (e.y_f16) reinterpret_cast<__half*>(e.y_f16)[m * e.ld_f16 + n] = __float2half_rn(v);
}

// One row's weight words of one chunk for each of the R rows of an item.
template <int P, int MT>
struct GemvItem {
  uint32_t w[GemvConfig<P, MT>::kRows][GemvConfig<P, MT>::kWords];
};

template <int P, int MT>
__device__ __forceinline__ void load_item(const GemvParams& p, const uint8_t* row_ptr, int64_t row, int64_t row_end,
                                          int c, bool valid, GemvItem<P, MT>& it) {
  using Cfg = GemvConfig<P, MT>;
#pragma unroll
  for (int r = 0; r < Cfg::kRows; ++r) {
    const bool ok = valid && row + r < row_end;
    const uint8_t* base = row_ptr + r * p.row_bytes;
#pragma unroll
    for (int f = 8; f >= 1; f >>= 1) {
      if (!(P & f)) continue;
      const int nw = field_words(P, f), wb = field_word_base(P, f);
      const uint8_t* src = base + int64_t(p.kp) * field_off(P, f) / 8 + int64_t(c) * 4 * nw;
      if (nw == 4) {
        const uint4 v = ok ? ldg_stream16(src) : make_uint4(0, 0, 0, 0);
        it.w[r][wb] = v.x, it.w[r][wb + 1] = v.y, it.w[r][wb + 2] = v.z, it.w[r][wb + 3] = v.w;
      } else if (nw == 2) {
        const uint2 v = ok ? ldg_stream8(src) : make_uint2(0, 0);
        it.w[r][wb] = v.x, it.w[r][wb + 1] = v.y;
      } else {
        it.w[r][wb] = ok ? ldg_stream4(src) : 0u;
      }
    }
  }
}

// acc[r][m][e + 8] += products of one chunk: activation piece h (16 bytes of the chunk, staged as
// plane h) pairs with the slots s and words j of every field whose codes it holds.
template <int P, int MT>
__device__ __forceinline__ void multiply_item(const GemvItem<P, MT>& it, const uint8_t* xs_chunk, int plane_stride,
                                              int kp, int (&acc)[GemvConfig<P, MT>::kRows][MT][kAccs]) {
  using Cfg = GemvConfig<P, MT>;
#pragma unroll
  for (int h = 0; h < Cfg::kPieces; ++h) {
    uint32_t xv[MT][4];
#pragma unroll
    for (int m = 0; m < MT; ++m) {
      const uint4 v = *reinterpret_cast<const uint4*>(xs_chunk + m * kp + h * plane_stride);
      xv[m][0] = v.x, xv[m][1] = v.y, xv[m][2] = v.z, xv[m][3] = v.w;
    }
#pragma unroll
    for (int r = 0; r < Cfg::kRows; ++r) {
#pragma unroll
      for (int f = 8; f >= 1; f >>= 1) {
        if (!(P & f)) continue;
        const int nw = field_words(P, f), wb = field_word_base(P, f);
#pragma unroll
        for (int s = 0; s < 8 / f; ++s)
#pragma unroll
          for (int j = 0; j < 4; ++j) {
            if (j >= nw) break;
            const int xw = nw * s + j;  // activation word of the chunk (layout: k = 4 xw + b)
            if (xw / 4 != h) continue;
            if (P == 8) {
#pragma unroll
              for (int m = 0; m < MT; ++m) acc[r][m][8] = __dp4a(int(it.w[r][wb + j]), int(xv[m][xw % 4]), acc[r][m][8]);
            } else {
              const uint32_t word = (f == 1 && (s & 1)) ? it.w[r][wb + j] >> 1 : it.w[r][wb + j];
              const uint32_t mask = 0x01010101u * (((1u << f) - 1u) << slot_shift(f, s));
              const uint32_t raw = word & mask;
              const int e = slot_acc(P, f, s);
#pragma unroll
              for (int m = 0; m < MT; ++m) acc[r][m][e] = dp4a_us(raw, xv[m][xw % 4], acc[r][m][e]);
            }
          }
      }
    }
  }
}

template <int P, int MT>
__global__ void __launch_bounds__(GemvConfig<P, MT>::kThreads, GemvConfig<P, MT>::kMinBlocks)
    gemv_kernel(const GemvParams p) {
  using Cfg = GemvConfig<P, MT>;
  constexpr int R = Cfg::kRows, U = Cfg::kUnroll, V = R * MT;
  extern __shared__ __align__(16) uint8_t smem[];
  uint8_t* xs = smem;                                                     // [MT][kp], planes
  int* sums = reinterpret_cast<int*>(smem + MT * p.kp);                   // [groups * R][MT]
  int* sx_part = sums + p.groups * R * MT;                                // [warps][MT]
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int plane_stride = p.chunks * 16;

  // This block's rows and this warp's share of the block's (row group, step) items.
  const int64_t row0 = p.n * blockIdx.x / p.blocks, row_end = p.n * (blockIdx.x + 1) / p.blocks;
  const int groups = int(ceil_div(row_end - row0, R));
  const int items = groups * p.steps;
  const int i0 = int(int64_t(items) * warp / Cfg::kWarps), i1 = int(int64_t(items) * (warp + 1) / Cfg::kWarps);

  GemvItem<P, MT> buf0[U], buf1[Cfg::kDouble ? U : 1];
  int g = i0 / p.steps, st = i0 - g * p.steps;  // item (g, st) of the batch being multiplied
  int lg = g, lst = st;                         // item (lg, lst) of the next batch to load
  // Loads the U items from it0 on (none past i1) into b; it0 is the item at (lg, lst).
  auto load_batch = [&](GemvItem<P, MT>* b, int it0) {
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int c = lst * 32 + lane;
      const int64_t row = row0 + int64_t(lg) * R;
      load_item<P, MT>(p, p.w + row * p.row_bytes, row, row_end, c, it0 + u < i1 && c < p.chunks, b[u]);
      if (++lst == p.steps) lst = 0, ++lg;
    }
  };
  // The first weights are independent of the previous kernel: in flight before anything else.
  if (i0 < i1) load_batch(buf0, i0);
  if (Cfg::kDouble && i0 + U < i1) load_batch(buf1, i0 + U);
  grid_dependency_wait();
  // The epilogue operands of this thread's first output, loaded now rather than after the last
  // barrier (where their latency would add to the kernel's tail).
  const int rows = int(row_end - row0);
  EpilogueOperands first;
  if (int(threadIdx.x) < rows * p.m)
    first = load_epilogue_operands(p.epi, threadIdx.x / rows, row0 + threadIdx.x % rows);

  // Activations -> shared memory, chunk c's 16-byte piece h at h * plane_stride + 16 c (so that
  // the lanes' 16-byte reads of consecutive chunks are conflict-free), zero past K and for
  // m >= M; sum_k x per row for the offset correction.
  {
    int sx[MT];
#pragma unroll
    for (int m = 0; m < MT; ++m) sx[m] = 0;
    const int per_row = p.kp / 16, total = MT * per_row;
    // kPieces 16-byte pieces per thread and pass, their loads issued before the first store (a
    // loop of load -> store waits one L2 round trip per piece: 28 KB at K = 28672). Not
    // cp.async: measured 5-15% slower for every p < 8 (run of 2026-11-25 02:40; suspected: its
    // wait, a DEPBAR on scoreboard SB0, also waited for the weight loads in flight).
    constexpr int kPieces = MT == 1 ? 2 : 4;
    for (int base = 0; base < total; base += kPieces * blockDim.x) {
      uint4 v[kPieces];
#pragma unroll
      for (int j = 0; j < kPieces; ++j) {
        const int i = base + j * blockDim.x + threadIdx.x;
        v[j] = make_uint4(0, 0, 0, 0);
        if (i < total) {
          const int m = i / per_row, k0 = 16 * (i - m * per_row);
          if (m < p.m) {
            const int8_t* src = p.x + m * p.ldx + k0;
            if (k0 + 16 <= p.k) {
              v[j] = *reinterpret_cast<const uint4*>(src);
            } else if (k0 < p.k) {
              uint32_t b[4] = {0, 0, 0, 0};
              for (int t = 0; t < 16 && k0 + t < p.k; ++t) b[t / 4] |= uint32_t(uint8_t(src[t])) << (8 * (t % 4));
              v[j] = make_uint4(b[0], b[1], b[2], b[3]);
            }
          }
        }
      }
#pragma unroll
      for (int j = 0; j < kPieces; ++j) {
        const int i = base + j * blockDim.x + threadIdx.x;
        if (i >= total) break;
        const int m = i / per_row, k0 = 16 * (i - m * per_row);
        const int c = k0 / Cfg::kChunk, h = (k0 % Cfg::kChunk) / 16;
        *reinterpret_cast<uint4*>(xs + m * p.kp + h * plane_stride + 16 * c) = v[j];
        const int sum = __dp4a(int(v[j].x), 0x01010101, __dp4a(int(v[j].y), 0x01010101,
                               __dp4a(int(v[j].z), 0x01010101, __dp4a(int(v[j].w), 0x01010101, 0))));
#pragma unroll
        for (int mm = 0; mm < MT; ++mm) sx[mm] += mm == m ? sum : 0;
      }
    }
#pragma unroll
    for (int m = 0; m < MT; ++m) {
      const int t = __reduce_add_sync(0xffffffffu, sx[m]);
      if (lane == 0) sx_part[warp * MT + m] = t;
    }
    for (int i = threadIdx.x; i < groups * R * MT; i += blockDim.x) sums[i] = 0;
  }
  __syncthreads();
  grid_launch_dependents();

  int acc[R][MT][kAccs];
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int m = 0; m < MT; ++m)
#pragma unroll
      for (int e = 0; e < kAccs; ++e) acc[r][m][e] = 0;

  // Multiplies the U items from it on (none past i1), flushing each row group that ends.
  auto multiply_batch = [&](const GemvItem<P, MT>* b, int it) {
#pragma unroll
    for (int u = 0; u < U; ++u) {
      if (it + u >= i1) break;
      const int c = st * 32 + lane;
      const int cc = c < p.chunks ? c : 0;  // weights past the row are zero: any activation will do
      multiply_item<P, MT>(b[u], xs + 16 * cc, plane_stride, p.kp, acc);
      // The row group ends (or this warp's share does): its partial sums go to shared memory.
      if (st == p.steps - 1 || it + u == i1 - 1) {
        int v[V];
#pragma unroll
        for (int r = 0; r < R; ++r)
#pragma unroll
          for (int m = 0; m < MT; ++m) {
            int t = 0;
#pragma unroll
            for (int e = 0; e < kAccs; ++e) {
              // Exact: the products of accumulator e < 8 are multiples of 2^(8 - e).
              t += e >= 8 ? acc[r][m][e] << (e - 8) : acc[r][m][e] >> (8 - e);
              acc[r][m][e] = 0;
            }
            v[r * MT + m] = t;
          }
        int index = 0;
        const int total = warp_sum_many<V>(v, lane, index);
        if ((lane & (32 / V - 1)) == 0) atomicAdd(&sums[(g * R + index / MT) * MT + index % MT], total);
      }
      if (++st == p.steps) st = 0, ++g;
    }
  };
  if constexpr (Cfg::kDouble) {
    // Two register buffers in turn: while one batch is multiplied the next is in flight, and the
    // one after it is issued as soon as a buffer is free.
    for (int it = i0; it < i1; it += 2 * U) {
      multiply_batch(buf0, it);
      if (it + 2 * U < i1) load_batch(buf0, it + 2 * U);
      if (it + U >= i1) break;
      multiply_batch(buf1, it + U);
      if (it + 3 * U < i1) load_batch(buf1, it + 3 * U);
    }
  } else {
    for (int it = i0; it < i1; it += U) {
      multiply_batch(buf0, it);
      if (it + U < i1) load_batch(buf0, it + U);
    }
  }
  __syncthreads();

  // Epilogue: y[m][row] for this block's rows, consecutive threads on consecutive rows.
  for (int i = threadIdx.x; i < rows * p.m; i += blockDim.x) {
    const int m = i / rows, rr = i - m * rows;
    int sx = 0;
    for (int w = 0; w < Cfg::kWarps; ++w) sx += sx_part[w * MT + m];
    const EpilogueOperands ops = i == int(threadIdx.x) ? first : load_epilogue_operands(p.epi, m, row0 + rr);
    store_out_with(p.epi, m, row0 + rr, sums[rr * MT + m] - gemv_offset(P) * sx, ops);
  }
}

template <int P, int MT>
void launch_gemv(const GemvWeight& w, const Int8Act& x, const Epilogue& epi, Stream stream, const GemvOptions& opt) {
  using Cfg = GemvConfig<P, MT>;
  constexpr int R = Cfg::kRows;
  const GemvLayout lay{P, w.n, w.k};
  GemvParams p{};
  p.w = w.data;
  p.row_bytes = lay.row_bytes();
  p.n = w.n;
  p.k = w.k;
  p.kp = int(lay.k_padded());
  p.chunks = p.kp / Cfg::kChunk;
  p.steps = int(ceil_div(p.chunks, 32));
  p.m = int(x.m);
  p.x = x.data;
  p.ldx = x.ld;
  p.epi = epi;
  auto* kernel = gemv_kernel<P, MT>;
  static int max_smem = [&] {
    int dev = 0, v = 0;
    BITFOLD_CUDA_CHECK(cudaGetDevice(&dev));
    BITFOLD_CUDA_CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    BITFOLD_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, v));
    return v;
  }();
  // Rows split evenly over the blocks that fit at once (one wave), at most 1024 rows per block.
  auto smem_for = [&](int64_t blocks) {
    const int64_t groups = ceil_div(ceil_div(p.n, blocks), R);
    return int64_t(MT) * p.kp + 4 * (groups * R * MT + Cfg::kWarps * MT);
  };
  static int cached_smem = -1, cached_per_sm = 0;
  int64_t blocks = std::min<int64_t>(p.n, int64_t(Cfg::kMinBlocks) * sm_count());
  for (int pass = 0; pass < 2; ++pass) {
    const int64_t smem = smem_for(blocks);
    if (smem > max_smem)
      fail_rt("gemm_gemv: K = {} at M = {} needs {} bytes of shared memory, the device has {}", w.k, x.m, smem, max_smem);
    if (int(smem) != cached_smem) {
      BITFOLD_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&cached_per_sm, kernel, Cfg::kThreads, int(smem)));
      cached_smem = int(smem);
    }
    blocks = std::max<int64_t>({std::min<int64_t>(p.n, int64_t(std::max(cached_per_sm, 1)) * sm_count()), ceil_div(p.n, 1024), 1});
  }
  p.blocks = int(blocks);
  p.groups = int(ceil_div(ceil_div(p.n, blocks), R));
  const int smem = int(smem_for(blocks));

  launch_maybe_pdl(kernel, unsigned(p.blocks), Cfg::kThreads, size_t(smem), stream, opt.pdl, p);
}

// Device packer: one thread per 32-bit word of the layout.
__global__ void pack_gemv_kernel(const int8_t* __restrict__ codes, int64_t ld, int64_t n, int64_t k, int bits,
                                 int64_t kp, int64_t row_words, uint32_t* __restrict__ out) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= n * row_words) return;
  const int64_t row = idx / row_words, wi = idx % row_words;
  const int wide = gemv_widest_field(bits), chunk = 128 / wide;
  // The field this word belongs to: fields are laid out by value offset, kp * off / 32 words in.
  int f = 0, off = 0;
  for (int ff = 8; ff >= 1; ff >>= 1) {
    if (!(bits & ff)) continue;
    const int o = bits & ~(2 * ff - 1);
    if (wi >= kp * o / 32) f = ff, off = o;
  }
  const int nw = 4 * f / wide;
  const int64_t local = wi - kp * off / 32, c = local / nw;
  const int j = int(local % nw);
  uint32_t word = 0;
  for (int s = 0; s < 8 / f; ++s)
    for (int b = 0; b < 4; ++b) {
      const int64_t col = chunk * c + 4 * (nw * s + j) + b;
      const int code = col < k ? codes[row * ld + col] : 0;
      const int u = (code + gemv_offset(bits)) & 0xFF;
      word |= uint32_t((u >> off) & ((1 << f) - 1)) << (8 * b + f * s);
    }
  out[idx] = word;
}

}  // namespace detail

void gemm_gemv(const GemvWeight& w, const Int8Act& x, const Epilogue& epi, Stream stream, const GemvOptions& opt) {
  if (w.k != x.k) detail::fail_rt("gemm_gemv: weight K {} != activation K {}", w.k, x.k);
  if (x.m > 4) detail::fail_rt("gemm_gemv: M = {} > 4 (the GEMV is compiled for up to 4 activation rows)", x.m);
  if (x.ld % 16 != 0 || reinterpret_cast<uintptr_t>(x.data) % 16 != 0)
    detail::fail_rt("gemm_gemv: activations must be 16-byte aligned with a leading dimension that is a multiple of 16 (ld {})", x.ld);
  if (reinterpret_cast<uintptr_t>(w.data) % 16 != 0) detail::fail_rt("gemm_gemv: weights must be 16-byte aligned");
  if (w.k > 65536) detail::fail_rt("gemm_gemv: K = {} > 65536 could overflow the int32 accumulators", w.k);
  if (!epi.w_scale && (epi.y_f16 || epi.y_f32)) detail::fail_rt("gemm_gemv: w_scale is required");
  if (x.m <= 0 || w.n <= 0) return;
#define BITFOLD_GEMV_CASE(P)                                            \
  case P:                                                               \
    if (x.m == 1)                                                       \
      detail::launch_gemv<P, 1>(w, x, epi, stream, opt);                \
    else if (x.m == 2)                                                  \
      detail::launch_gemv<P, 2>(w, x, epi, stream, opt);                \
    else                                                                \
      detail::launch_gemv<P, 4>(w, x, epi, stream, opt);                \
    return;
  switch (w.bits) {
    BITFOLD_GEMV_CASE(2)
    BITFOLD_GEMV_CASE(3)
    BITFOLD_GEMV_CASE(4)
    BITFOLD_GEMV_CASE(6)
    BITFOLD_GEMV_CASE(8)
    default: detail::fail_rt("gemm_gemv: {}-bit weights are not instantiated (2, 3, 4, 6, 8)", w.bits);
  }
#undef BITFOLD_GEMV_CASE
}

void pack_gemv_device(const int8_t* codes, int64_t ld, int64_t n, int64_t k, int bits, uint8_t* out, Stream stream) {
  if (bits < 1 || bits > 8) detail::fail_rt("pack_gemv_device: bits {}", bits);
  const GemvLayout lay{bits, n, k};
  const int64_t row_words = lay.row_bytes() / 4;
  const int64_t total = n * row_words;
  const unsigned blocks = unsigned(std::max<int64_t>(1, ceil_div(total, 256)));
  detail::pack_gemv_kernel<<<blocks, 256, 0, stream>>>(codes, ld, n, k, bits, lay.k_padded(), row_words,
                                                       reinterpret_cast<uint32_t*>(out));
  BITFOLD_CUDA_LAUNCH_CHECK();
}

}  // namespace bitfold::kernels
