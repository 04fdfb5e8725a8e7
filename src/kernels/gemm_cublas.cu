// GemmContext, the cuBLAS / cuBLASLt peers, the cuBLASLt-based routes (unpack pre-pass + int8
// GEMM + epilogue kernel), the stand-alone epilogue kernel and the device-side packers.
#include <algorithm>

#include "kernels/device_common.cuh"
#include "kernels/gemm_context.h"
#include "kernels/layout.h"

#define BITFOLD_CUBLAS_CHECK(expr)                                                             \
  do {                                                                                         \
    const int bitfold_st_ = int(expr);                                                         \
    if (bitfold_st_ != 0) ::bitfold::kernels::detail::fail_rt("cuBLAS error {} at {}:{}: {}", bitfold_st_, __FILE__, __LINE__, #expr); \
  } while (0)

namespace bitfold::kernels {

namespace detail {

int sm_count() {
  static int count = [] {
    int dev = 0, n = 0;
    BITFOLD_CUDA_CHECK(cudaGetDevice(&dev));
    BITFOLD_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev));
    return n;
  }();
  return count;
}

bool epilogue_vec_ok(const Epilogue& e) {
  auto al = [](const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; };
  if (!al(e.w_scale) || (e.bias && !al(e.bias))) return false;
  if (e.residual && (!al(e.residual) || e.ld_residual % 8 != 0)) return false;
  if (e.y_f16 && (!al(e.y_f16) || e.ld_f16 % 8 != 0)) return false;
  if (e.y_f32 && (!al(e.y_f32) || e.ld_f32 % 4 != 0)) return false;
  if (e.y_i32 && (!al(e.y_i32) || e.ld_i32 % 4 != 0)) return false;
  return true;
}

// One thread per 8 consecutive outputs of a row.
__global__ void epilogue_kernel(const int32_t* __restrict__ acc, int64_t ld_acc, int64_t m, int64_t n,
                                const Epilogue e, bool vec_ok) {
  const int64_t groups = ceil_div(n, 8);
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= m * groups) return;
  const int64_t row = idx / groups, n0 = (idx % groups) * 8;
  int32_t v[8];
  const int32_t* src = acc + row * ld_acc + n0;
  if (vec_ok && n0 + 8 <= n) {
    const int4 lo = reinterpret_cast<const int4*>(src)[0], hi = reinterpret_cast<const int4*>(src)[1];
    v[0] = lo.x, v[1] = lo.y, v[2] = lo.z, v[3] = lo.w, v[4] = hi.x, v[5] = hi.y, v[6] = hi.z, v[7] = hi.w;
  } else {
#pragma unroll
    for (int i = 0; i < 8; ++i) v[i] = (n0 + i < n) ? src[i] : 0;
  }
  store_out8(e, row, n0, n, v, vec_ok);
}

// frag -> int8 rows: one thread per (tile, lane) writes its 64 codes.
template <int P, FragOrder kOrder>
__global__ void unpack_frag_kernel(const uint8_t* __restrict__ w, int64_t row_tiles, int64_t k_tiles,
                                   int64_t n, int64_t k, int8_t* __restrict__ out, int64_t ldw) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= row_tiles * k_tiles * 32) return;
  const int lane = int(idx & 31);
  const int64_t tile = idx >> 5;
  const int64_t rt = tile / k_tiles, kt = tile % k_tiles;
  FragData<P> d;
  load_frag<P, true>(w + tile * 256 * P, lane, d);
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int u = 0; u < 16; ++u) {
    const int r = u & 3;
    const int64_t row = 16 * rt + g + 8 * (r & 1);
    const int64_t col = 128 * kt + frag_k(kOrder, u, t, 0);  // 4 consecutive k in both orders
    if (row >= n || col >= ldw) continue;
    uint32_t v = unpack_unit<P>(d, u);
    if (col + 4 > k) {  // zero the tail past K
      for (int c = 0; c < 4; ++c)
        if (col + c >= k) v &= ~(0xFFu << (8 * c));
    }
    *reinterpret_cast<uint32_t*>(out + row * ldw + col) = v;
  }
}

__global__ void pack_frag_kernel(const int8_t* __restrict__ codes, int64_t ld, int64_t n, int64_t k,
                                 int bits, FragOrder order, int64_t row_tiles, int64_t k_tiles,
                                 uint8_t* __restrict__ out) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= row_tiles * k_tiles * 32) return;
  const int lane = int(idx & 31);
  const int64_t tile = idx >> 5;
  const int64_t rt = tile / k_tiles, kt = tile % k_tiles;
  const int g = lane >> 2, t = lane & 3;
  uint32_t words[16];  // 2 bits words at most
  for (int i = 0; i < 16; ++i) words[i] = 0;
  const int offset = 1 << (bits - 1);
  for (int u = 0; u < 16; ++u) {
    const int r = u & 3;
    const int64_t row = 16 * rt + g + 8 * (r & 1);
    const int64_t col = 128 * kt + frag_k(order, u, t, 0);
    for (int c = 0; c < 4; ++c) {
      const int code = (row < n && col + c < k) ? codes[row * ld + col + c] : 0;
      const int v = code + offset;
      for (int f = 8; f >= 1; f >>= 1) {
        if (!(bits & f)) continue;
        const int off = bits & ~(2 * f - 1);
        const uint32_t part = uint32_t(v >> off) & ((1u << f) - 1u);
        words[2 * off + u * f / 8] |= part << (f * (u % (8 / f)) + 8 * c);
      }
    }
  }
  uint8_t* base_tile = out + tile * 256 * bits;
  for (int f = 8; f >= 1; f >>= 1) {
    if (!(bits & f)) continue;
    const int off = bits & ~(2 * f - 1);
    uint8_t* base = base_tile + 256 * off;
    for (int j = 0; j < 2 * f; ++j) {
      uint8_t* dst = f >= 2 ? base + 512 * (j / 4) + 16 * lane + 4 * (j % 4) : base + 8 * lane + 4 * j;
      *reinterpret_cast<uint32_t*>(dst) = words[2 * off + j];
    }
  }
}

__global__ void pack_btc_weight_kernel(const int8_t* __restrict__ codes, int64_t ld, int64_t n, int64_t k,
                                       int bits, int64_t row_tiles, int64_t k_tiles, uint8_t* __restrict__ out) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= row_tiles * k_tiles * 32) return;
  const int lane = int(idx & 31);
  const int64_t tile = idx >> 5;
  const int64_t rt = tile / k_tiles, kt = tile % k_tiles;
  const int g = lane >> 2, t = lane & 3;
  const uint32_t mask = (1u << bits) - 1u;
  for (int r = 0; r < 4; ++r) {
    const int64_t row = 16 * rt + g + 8 * (r & 1);
    const int64_t col = 256 * kt + 128 * (r >> 1) + 32 * t;
    uint32_t planes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int b = 0; b < 32; ++b) {
      const uint32_t code = (row < n && col + b < k) ? uint32_t(int32_t(codes[row * ld + col + b])) & mask : 0u;
      for (int j = 0; j < bits; ++j) planes[j] |= ((code >> j) & 1u) << b;
    }
    for (int j = 0; j < bits; ++j)
      *reinterpret_cast<uint32_t*>(out + tile * 512 * bits + 512 * j + 16 * lane + 4 * r) = planes[j];
  }
}

// One warp per 32 codes of a row: plane i's word is a ballot of bit i.
__global__ void pack_btc_act_kernel(const int8_t* __restrict__ x, int64_t ldx, int64_t m, int64_t k,
                                    int bits, uint32_t* __restrict__ planes, int64_t ld_words) {
  const int64_t warp_id = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  const int lane = threadIdx.x & 31;
  if (warp_id >= m * ld_words) return;
  const int64_t row = warp_id / ld_words, word = warp_id % ld_words;
  const int64_t col = word * 32 + lane;
  const uint32_t code = col < k ? uint32_t(int32_t(x[row * ldx + col])) : 0u;
  for (int i = 0; i < bits; ++i) {
    const uint32_t ballot = __ballot_sync(0xFFFFFFFFu, (code >> i) & 1u);
    if (lane == 0) planes[(i * m + row) * ld_words + word] = ballot;
  }
}

unsigned blocks_for(int64_t threads, int per_block) {
  const int64_t b = ceil_div(threads, per_block);
  BITFOLD_CU_CHECK(b < (int64_t(1) << 31), "grid too large");
  return unsigned(std::max<int64_t>(1, b));
}

}  // namespace detail

// ---- GemmContext ---------------------------------------------------------------------------------
GemmContext::Impl::Impl() {
  BITFOLD_CUBLAS_CHECK(cublasCreate(&blas));
  BITFOLD_CUBLAS_CHECK(cublasLtCreate(&lt));
  lt_workspace_bytes = size_t(64) << 20;
  BITFOLD_CUDA_CHECK(cudaMalloc(&lt_workspace, lt_workspace_bytes));
  BITFOLD_CUBLAS_CHECK(cublasSetWorkspace(blas, lt_workspace, lt_workspace_bytes));
}

GemmContext::Impl::~Impl() {
  for (auto& [key, plan] : plans) {
    cublasLtMatmulDescDestroy(plan.desc);
    cublasLtMatrixLayoutDestroy(plan.a);
    cublasLtMatrixLayoutDestroy(plan.b);
    cublasLtMatrixLayoutDestroy(plan.c);
  }
  cudaFree(split_acc);
  cudaFree(split_counters);
  cudaFree(scratch);
  cudaFree(scratch_i32);
  cudaFree(scratch_fp8);
  cudaFree(scratch_f32);
  cudaFree(lt_workspace);
  cublasLtDestroy(lt);
  cublasDestroy(blas);
}

void GemmContext::Impl::ensure_split(int64_t n, int64_t counters) {
  if (n > split_n) {
    BITFOLD_CUDA_CHECK(cudaDeviceSynchronize());
    cudaFree(split_acc);
    split_n = round_up(std::max<int64_t>(n, 4096), 256);
    BITFOLD_CUDA_CHECK(cudaMalloc(&split_acc, size_t(kMaxSplitM * split_n) * sizeof(int32_t)));
    BITFOLD_CUDA_CHECK(cudaMemset(split_acc, 0, size_t(kMaxSplitM * split_n) * sizeof(int32_t)));
  }
  if (counters > split_counter_count) {
    BITFOLD_CUDA_CHECK(cudaDeviceSynchronize());
    cudaFree(split_counters);
    split_counter_count = round_up(std::max<int64_t>(counters, 4096), 256);
    BITFOLD_CUDA_CHECK(cudaMalloc(&split_counters, size_t(split_counter_count) * sizeof(unsigned)));
    BITFOLD_CUDA_CHECK(cudaMemset(split_counters, 0, size_t(split_counter_count) * sizeof(unsigned)));
  }
}

void* GemmContext::Impl::ensure(void*& buf, size_t& have, size_t need) {
  if (need > have) {
    BITFOLD_CUDA_CHECK(cudaDeviceSynchronize());
    cudaFree(buf);
    BITFOLD_CUDA_CHECK(cudaMalloc(&buf, need));
    have = need;
  }
  return buf;
}

GemmContext::GemmContext() : impl_(std::make_unique<Impl>()) {}
GemmContext::~GemmContext() = default;

// ---- cuBLAS peers ------------------------------------------------------------------------------------
void cublas_fp16(GemmContext& ctx, int64_t m, int64_t n, int64_t k, const uint16_t* x, const uint16_t* w,
                 uint16_t* y, Stream stream) {
  auto& c = ctx.impl();
  BITFOLD_CUBLAS_CHECK(cublasSetStream(c.blas, stream));
  const float alpha = 1.0f, beta = 0.0f;
  // Column-major view: Y^T[n x m] = W[n x k] . X^T[k x m]; W is k x n column-major (transposed).
  BITFOLD_CUBLAS_CHECK(cublasGemmEx(c.blas, CUBLAS_OP_T, CUBLAS_OP_N, int(n), int(m), int(k), &alpha, w,
                                    CUDA_R_16F, int(k), x, CUDA_R_16F, int(k), &beta, y, CUDA_R_16F, int(n),
                                    CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

namespace {
GemmContext::Impl::LtPlan& lt_plan(GemmContext::Impl& c, int kind, int64_t m, int64_t n, int64_t k,
                                   int64_t lda, int64_t ldb) {
  const auto key = std::make_tuple(kind, m, n, k, lda, ldb);
  auto it = c.plans.find(key);
  if (it != c.plans.end()) return it->second;
  GemmContext::Impl::LtPlan plan;
  const bool fp8 = kind == 1 || kind == 2;  // 2: e4m3 -> FP32 out (gemm_fp4_lt)
  const cublasComputeType_t compute = fp8 ? CUBLAS_COMPUTE_32F : CUBLAS_COMPUTE_32I;
  const cudaDataType_t scale = fp8 ? CUDA_R_32F : CUDA_R_32I;
  const cudaDataType_t ab = fp8 ? CUDA_R_8F_E4M3 : CUDA_R_8I;
  const cudaDataType_t cd = kind == 2 ? CUDA_R_32F : (fp8 ? CUDA_R_16F : CUDA_R_32I);
  BITFOLD_CUBLAS_CHECK(cublasLtMatmulDescCreate(&plan.desc, compute, scale));
  const cublasOperation_t opT = CUBLAS_OP_T, opN = CUBLAS_OP_N;
  BITFOLD_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_TRANSA, &opT, sizeof(opT)));
  BITFOLD_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_TRANSB, &opN, sizeof(opN)));
  // A = W as a k x n column-major matrix (transposed), B = X as k x m, D = Y^T as n x m.
  BITFOLD_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan.a, ab, uint64_t(k), uint64_t(n), lda));
  BITFOLD_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan.b, ab, uint64_t(k), uint64_t(m), ldb));
  // FP8 with FP32 output needs a 16-aligned leading dimension of D (odd N: status 15).
  const int64_t ldc = kind == 2 ? round_up(n, 16) : n;
  BITFOLD_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan.c, cd, uint64_t(n), uint64_t(m), ldc));
  cublasLtMatmulPreference_t pref;
  BITFOLD_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  BITFOLD_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                            &c.lt_workspace_bytes, sizeof(c.lt_workspace_bytes)));
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  BITFOLD_CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(c.lt, plan.desc, plan.a, plan.b, plan.c, plan.c, pref, 1,
                                                      &result, &found));
  cublasLtMatmulPreferenceDestroy(pref);
  if (found == 0) detail::fail_rt("cuBLASLt has no {} algorithm for m={} n={} k={}", fp8 ? "FP8" : "int8", m, n, k);
  plan.algo = result.algo;
  return c.plans.emplace(key, plan).first->second;
}
}  // namespace

void cublaslt_int8(GemmContext& ctx, int64_t m, int64_t n, int64_t k, const int8_t* x, int64_t ldx,
                   const int8_t* w, int64_t ldw, int32_t* y, Stream stream) {
  auto& c = ctx.impl();
  auto& plan = lt_plan(c, 0, m, n, k, ldw, ldx);
  const int32_t alpha = 1, beta = 0;
  BITFOLD_CUBLAS_CHECK(cublasLtMatmul(c.lt, plan.desc, &alpha, w, plan.a, x, plan.b, &beta, y, plan.c, y, plan.c,
                                      &plan.algo, c.lt_workspace, c.lt_workspace_bytes, stream));
}

void cublaslt_fp8(GemmContext& ctx, int64_t m, int64_t n, int64_t k, const uint8_t* x, const uint8_t* w,
                  uint16_t* y, Stream stream) {
  auto& c = ctx.impl();
  auto& plan = lt_plan(c, 1, m, n, k, k, k);
  const float alpha = 1.0f, beta = 0.0f;
  BITFOLD_CUBLAS_CHECK(cublasLtMatmul(c.lt, plan.desc, &alpha, w, plan.a, x, plan.b, &beta, y, plan.c, y, plan.c,
                                      &plan.algo, c.lt_workspace, c.lt_workspace_bytes, stream));
}

void cublaslt_fp8_f32(GemmContext& ctx, int64_t m, int64_t n, int64_t k, const uint8_t* x, int64_t ldx,
                      const uint8_t* w, int64_t ldw, float* y, Stream stream) {
  auto& c = ctx.impl();
  auto& plan = lt_plan(c, 2, m, n, k, ldw, ldx);
  const float alpha = 1.0f, beta = 0.0f;
  BITFOLD_CUBLAS_CHECK(cublasLtMatmul(c.lt, plan.desc, &alpha, w, plan.a, x, plan.b, &beta, y, plan.c, y, plan.c,
                                      &plan.algo, c.lt_workspace, c.lt_workspace_bytes, stream));
}

// ---- routes through cuBLASLt ----------------------------------------------------------------------
void epilogue_i32(const int32_t* acc, int64_t ld_acc, int64_t m, int64_t n, const Epilogue& epi, Stream stream) {
  if (m == 0 || n == 0) return;
  const bool vec_ok = detail::epilogue_vec_ok(epi) && ld_acc % 4 == 0 && reinterpret_cast<uintptr_t>(acc) % 16 == 0;
  const int64_t threads = m * ceil_div(n, 8);
  detail::epilogue_kernel<<<detail::blocks_for(threads, 256), 256, 0, stream>>>(acc, ld_acc, m, n, epi, vec_ok);
  BITFOLD_CUDA_LAUNCH_CHECK();
}

void unpack_frag_device(const FragWeight& w, int8_t* out, int64_t ldw, Stream stream) {
  if (ldw % 4 != 0 || ldw < w.k) detail::fail_rt("unpack_frag_device: ldw {} must be >= K {} and a multiple of 4", ldw, w.k);
  const int64_t rt = ceil_div(w.n, 16), kt = ceil_div(w.k, 128);
  const unsigned blocks = detail::blocks_for(rt * kt * 32, 256);
  const bool dec = w.order == FragOrder::Decode;
  switch (w.bits) {
#define BITFOLD_UNPACK_CASE(P)                                                                                       \
  case P:                                                                                                           \
    if (dec)                                                                                                        \
      detail::unpack_frag_kernel<P, FragOrder::Decode><<<blocks, 256, 0, stream>>>(w.data, rt, kt, w.n, w.k, out, ldw); \
    else                                                                                                            \
      detail::unpack_frag_kernel<P, FragOrder::Natural><<<blocks, 256, 0, stream>>>(w.data, rt, kt, w.n, w.k, out, ldw); \
    break;
    BITFOLD_UNPACK_CASE(2)
    BITFOLD_UNPACK_CASE(3)
    BITFOLD_UNPACK_CASE(4)
    BITFOLD_UNPACK_CASE(6)
    BITFOLD_UNPACK_CASE(8)
#undef BITFOLD_UNPACK_CASE
    default: detail::fail_rt("unpack_frag_device: {}-bit weights are not instantiated", w.bits);
  }
  BITFOLD_CUDA_LAUNCH_CHECK();
}

const int8_t* GemmContext::Impl::unpack_to_rows(const FragWeight& w, int64_t ldw, Stream stream) {
  auto* rows = static_cast<int8_t*>(ensure(scratch, scratch_bytes, size_t(w.n * ldw)));
  unpack_frag_device(w, rows, ldw, stream);
  return rows;
}

void gemm_unpack_lt(GemmContext& ctx, const FragWeight& w, const Int8Act& x, const Epilogue& epi, Stream stream) {
  if (w.k != x.k) detail::fail_rt("gemm_unpack_lt: weight K {} != activation K {}", w.k, x.k);
  const int64_t ldw = round_up(w.k, 16);
  gemm_int8_lt(ctx, ctx.impl().unpack_to_rows(w, ldw, stream), ldw, w.n, x, epi, stream);
}

void gemm_int8_lt(GemmContext& ctx, const int8_t* w_rows, int64_t ldw, int64_t n, const Int8Act& x,
                  const Epilogue& epi, Stream stream) {
  if (x.k % 16 != 0 || ldw % 16 != 0 || x.ld % 16 != 0)
    detail::fail_rt("gemm_int8_lt: K {}, ldw {}, ldx {} must be multiples of 16 (cuBLASLt int8)", x.k, ldw, x.ld);
  auto& c = ctx.impl();
  int32_t* acc = epi.y_i32;
  int64_t ld_acc = epi.ld_i32;
  Epilogue e = epi;
  if (!acc || ld_acc != n) {
    acc = static_cast<int32_t*>(c.ensure(c.scratch_i32, c.scratch_i32_bytes, size_t(x.m * n) * sizeof(int32_t)));
    ld_acc = n;
  } else {
    e.y_i32 = nullptr;  // cuBLASLt already wrote it
  }
  cublaslt_int8(ctx, x.m, n, x.k, x.data, x.ld, w_rows, ldw, acc, stream);
  if (e.y_i32 || e.y_f16 || e.y_f32) epilogue_i32(acc, ld_acc, x.m, n, e, stream);
}

// ---- device packers --------------------------------------------------------------------------------
void pack_frag_device(const int8_t* codes, int64_t ld, int64_t n, int64_t k, int bits, uint8_t* out, Stream stream,
                      FragOrder order) {
  if (bits < 1 || bits > 8) detail::fail_rt("pack_frag_device: bits {}", bits);
  const int64_t rt = ceil_div(n, 16), kt = ceil_div(k, 128);
  detail::pack_frag_kernel<<<detail::blocks_for(rt * kt * 32, 128), 128, 0, stream>>>(codes, ld, n, k, bits, order,
                                                                                     rt, kt, out);
  BITFOLD_CUDA_LAUNCH_CHECK();
}

void pack_btc_weight_device(const int8_t* codes, int64_t ld, int64_t n, int64_t k, int bits, uint8_t* out,
                            Stream stream) {
  if (bits < 1 || bits > 8) detail::fail_rt("pack_btc_weight_device: bits {}", bits);
  const int64_t rt = ceil_div(n, 16), kt = ceil_div(k, 256);
  detail::pack_btc_weight_kernel<<<detail::blocks_for(rt * kt * 32, 128), 128, 0, stream>>>(codes, ld, n, k, bits,
                                                                                          rt, kt, out);
  BITFOLD_CUDA_LAUNCH_CHECK();
}

void pack_btc_act_device(const int8_t* x, int64_t ldx, int64_t m, int64_t k, int bits, uint32_t* planes,
                         int64_t ld_words, Stream stream) {
  if (bits < 1 || bits > 8) detail::fail_rt("pack_btc_act_device: bits {}", bits);
  if (ld_words < btc_act_ld_words(k)) detail::fail_rt("pack_btc_act_device: ld_words {} too small", ld_words);
  detail::pack_btc_act_kernel<<<detail::blocks_for(m * ld_words * 32, 256), 256, 0, stream>>>(x, ldx, m, k, bits,
                                                                                            planes, ld_words);
  BITFOLD_CUDA_LAUNCH_CHECK();
}

}  // namespace bitfold::kernels
