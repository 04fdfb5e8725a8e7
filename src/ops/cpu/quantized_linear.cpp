// The integer engine of quant/quantized_linear.h on the CPU: activation codes → their integers,
// one exact BLAS product per K-block on integer-valued operands (SGEMM when the layer's bound is
// below 2^24, DGEMM otherwise), then the float epilogue in the kernels' order. Compiled with
// -ffp-contract=off (src/CMakeLists.txt): the epilogue's multiply and add must stay two roundings.
#include <cblas.h>

#include <array>
#include <cmath>
#include <type_traits>
#include <vector>

#include "core/error.h"
#include "core/parallel.h"
#include "ops/cpu/blas_threads.h"
#include "ops/cpu/cpu_ops.h"
#include "quant/float_grid.h"
#include "quant/int_codec.h"
#include "quant/quantized_linear.h"

namespace bitfold::ops::cpu {

namespace {

using quant::Accumulator;
using quant::QuantizedLinear;
using quant::QuantParams;

// Below this many multiply-adds a product runs on the calling thread (as in linear.cpp).
constexpr int64_t kParallelMacs = 1 << 16;
// Epilogue loops below this many outputs stay on the calling thread.
constexpr int64_t kParallelOutputs = 1 << 14;

// acc[T, N] = a[:, block] · w[:, block]ᵀ; a and w have row stride K.
template <class Real>
void block_product(const Real* a, const Real* w, Real* acc, int64_t T, int64_t N, int64_t K,
                   int64_t B) {
  const auto run = [&] {
    if constexpr (std::is_same_v<Real, float>) {
      if (T == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, blasint(N), blasint(B), 1.0f, w, blasint(K), a, 1,
                    0.0f, acc, 1);
      else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(T), blasint(N), blasint(B),
                    1.0f, a, blasint(K), w, blasint(K), 0.0f, acc, blasint(N));
    } else {
      if (T == 1)
        cblas_dgemv(CblasRowMajor, CblasNoTrans, blasint(N), blasint(B), 1.0, w, blasint(K), a, 1,
                    0.0, acc, 1);
      else
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(T), blasint(N), blasint(B),
                    1.0, a, blasint(K), w, blasint(K), 0.0, acc, blasint(N));
    }
  };
  // OpenBLAS 0.3.21's threaded gemv is erratic (linear.cpp): decode products run on one thread.
  if (T == 1 || T * N * B < kParallelMacs) {
    SingleThreadedBlas serial;
    run();
  } else {
    run();
  }
}

template <class Fn>
void rows_parallel(int64_t rows, int64_t cols, Fn&& fn) {
  if (rows * cols < kParallelOutputs) {
    for (int64_t r = 0; r < rows; ++r) fn(r);
  } else {
    parallel_for(rows, fn);
  }
}

// The step and zero-point of every column of row t (one lookup per element below).
void row_params(const QuantParams& p, int64_t t, int64_t K, float* steps, int32_t* zeros) {
  for (int64_t j = 0; j < K; ++j) {
    steps[j] = p.step(t, j);
    zeros[j] = p.zero(t, j);
  }
}

// a[t, j] = integer of the code of x[t, j] (minus the zero-point when `subtract_zero`): the same
// inline codecs as quant::quantize, fused with the integer lookup (no code tensor).
template <class Real, class Codec>
void quantize_rows(const float* x, int64_t T, int64_t K, const QuantParams& p, const Codec& codec,
                   const std::array<double, 256>& integers, bool subtract_zero, Real* a) {
  // Static steps are the same for every row: resolve them once.
  std::vector<float> shared_steps;
  std::vector<int32_t> shared_zeros;
  if (!p.spec.dynamic) {
    shared_steps.resize(static_cast<size_t>(K));
    shared_zeros.resize(static_cast<size_t>(K));
    row_params(p, 0, K, shared_steps.data(), shared_zeros.data());
  }
  rows_parallel(T, K, [&](int64_t t) {
    std::vector<float> own_steps;
    std::vector<int32_t> own_zeros;
    const float* steps = shared_steps.data();
    const int32_t* zeros = shared_zeros.data();
    if (p.spec.dynamic) {
      own_steps.resize(static_cast<size_t>(K));
      own_zeros.resize(static_cast<size_t>(K));
      row_params(p, t, K, own_steps.data(), own_zeros.data());
      steps = own_steps.data();
      zeros = own_zeros.data();
    }
    const float* xr = x + t * K;
    Real* ar = a + t * K;
    for (int64_t j = 0; j < K; ++j) {
      const int code = codec.encode(xr[j], steps[j], zeros[j]);
      double v = integers[uint8_t(code)];
      if (subtract_zero) v -= double(zeros[j]);
      ar[j] = Real(v);
    }
  });
}

// The float grid seen through the integer codec's interface.
struct FloatCodec {
  const quant::FloatGrid* grid;
  int encode(float x, float step, int32_t) const { return grid->encode(x, step); }
};

template <class Real>
void run_engine(const Tensor& x, const QuantizedLinear& q, float* y, int64_t T) {
  const int64_t N = q.out_features(), K = q.in_features(), B = q.block_size(), G = q.blocks();
  const QuantParams& stored = q.input();
  const bool dynamic = stored.spec.dynamic;

  // 1. Steps: the stored static ones, or fitted on x now (dynamic).
  QuantParams fitted;
  if (dynamic) {
    try {
      if (T * K < kParallelOutputs) {
        SingleThreadedBlas serial;  // also keeps quant's parallel loops on this thread
        fitted = quant::fit_params(stored.spec, x);
      } else {
        fitted = quant::fit_params(stored.spec, x);
      }
    } catch (const Error& e) {
      fail("{}: {}", q.name(), e.what());
    }
  }
  const QuantParams& params = dynamic ? fitted : stored;

  // 2. The integers of the codes (dynamic zero-points subtracted: a = x̃ − z; static ones live
  //    in bias').
  Tensor a_buffer = Tensor::empty({T, K}, std::is_same_v<Real, float> ? DType::F32 : DType::F64);
  Real* a = a_buffer.data<Real>();
  const auto& integers = q.activation_integers().of_code;
  const bool subtract_zero = dynamic && !params.zero_point.empty();
  const quant::Format& format = params.spec.format;
  if (format.kind == quant::FormatKind::Int) {
    const quant::IntCodec codec(quant::format_traits(format));
    quantize_rows<Real>(x.f32(), T, K, params, codec, integers, subtract_zero, a);
  } else {
    const quant::FloatGrid grid(format);
    quantize_rows<Real>(x.f32(), T, K, params, FloatCodec{&grid}, integers, subtract_zero, a);
  }

  // 3. One exact product per block, then y = Σ_g (acc·sw)·sx + bias'.
  const Real* w = q.weight_integers().template data<Real>();
  const std::vector<float>& sw = q.weight_scales();
  const float* bias = q.engine_bias().defined() ? q.engine_bias().f32() : nullptr;
  Tensor acc_buffer = Tensor::empty({T, N}, a_buffer.dtype());
  Real* acc = acc_buffer.data<Real>();
  for (int64_t g = 0; g < G; ++g) {
    block_product<Real>(a + g * B, w + g * B, acc, T, N, K, B);
    rows_parallel(T, N, [&](int64_t t) {
      const float sx = dynamic ? params.step(t, g * B) : 1.0f;
      const Real* acc_row = acc + t * N;
      float* y_row = y + t * N;
      for (int64_t i = 0; i < N; ++i) {
        float v = float(acc_row[i]) * sw[size_t(i * G + g)];  // acc is an exact integer
        if (dynamic) v = v * sx;
        if (g > 0) v = y_row[i] + v;
        if (g == G - 1 && bias) v = v + bias[i];
        y_row[i] = v;
      }
    });
  }
}

}  // namespace

void quantized_linear(const Tensor& x, const QuantizedLinear& q, float* y) {
  const int64_t T = x.dim(0), N = q.out_features(), K = q.in_features();
  if (T == 0 || N == 0) return;
  if (q.weight_only()) {
    const Tensor& bias = q.engine_bias();
    linear(x.f32(), q.dequantized_weight().f32(), bias.defined() ? bias.f32() : nullptr, y, T, N, K);
    return;
  }
  if (q.accumulator() == Accumulator::Float32) run_engine<float>(x, q, y, T);
  else run_engine<double>(x, q, y, T);
}

}  // namespace bitfold::ops::cpu
