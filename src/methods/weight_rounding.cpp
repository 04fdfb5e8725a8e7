#include "methods/weight_rounding.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "core/error.h"
#include "ops/ops.h"

namespace bitfold::methods {

namespace {

// y [rows, cols] = a [rows, K] · b [cols, K]ᵀ.
Tensor matmul_t(const Tensor& a, const Tensor& b) {
  Tensor y = Tensor::empty({a.dim(0), b.dim(0)}, DType::F32);
  ops::linear(a, b, Tensor(), y);
  return y;
}

Tensor transpose(const Tensor& a) {
  const int64_t R = a.dim(0), C = a.dim(1);
  Tensor t = Tensor::empty({C, R}, DType::F32);
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < C; ++c) t.f32()[c * R + r] = a.f32()[r * C + c];
  return t;
}

// Solves X M = R for X (M [r, r] symmetric positive (semi)definite, R [n, r]) in double, with a
// small ridge so a rank-deficient M stays solvable.
Tensor solve_right(const Tensor& rhs, const Tensor& m) {
  const int64_t r = m.dim(0), n = rhs.dim(0);
  std::vector<double> a(size_t(r * r));
  double trace = 0;
  for (int64_t i = 0; i < r; ++i) trace += m.f32()[i * r + i];
  const double ridge = 1e-9 * std::max(trace / double(r), 1e-30);
  for (int64_t i = 0; i < r * r; ++i) a[size_t(i)] = m.f32()[i];
  for (int64_t i = 0; i < r; ++i) a[size_t(i * r + i)] += ridge;
  // Cholesky a = L Lᵀ.
  for (int64_t j = 0; j < r; ++j) {
    double d = a[size_t(j * r + j)];
    for (int64_t k = 0; k < j; ++k) d -= a[size_t(j * r + k)] * a[size_t(j * r + k)];
    d = std::sqrt(std::max(d, ridge));
    a[size_t(j * r + j)] = d;
    for (int64_t i = j + 1; i < r; ++i) {
      double s = a[size_t(i * r + j)];
      for (int64_t k = 0; k < j; ++k) s -= a[size_t(i * r + k)] * a[size_t(j * r + k)];
      a[size_t(i * r + j)] = s / d;
    }
  }
  // Each row x of X: x M = rhs_row  ⇔  M xᵀ = rhs_rowᵀ (M symmetric): L y = b, Lᵀ x = y.
  Tensor x = Tensor::empty({n, r}, DType::F32);
  std::vector<double> y(static_cast<size_t>(r));
  for (int64_t row = 0; row < n; ++row) {
    for (int64_t i = 0; i < r; ++i) {
      double s = rhs.f32()[row * r + i];
      for (int64_t k = 0; k < i; ++k) s -= a[size_t(i * r + k)] * y[size_t(k)];
      y[size_t(i)] = s / a[size_t(i * r + i)];
    }
    for (int64_t i = r - 1; i >= 0; --i) {
      double s = y[size_t(i)];
      for (int64_t k = i + 1; k < r; ++k) s -= a[size_t(k * r + i)] * double(x.f32()[row * r + k]);
      x.f32()[row * r + i] = float(s / a[size_t(i * r + i)]);
    }
  }
  return x;
}

Tensor subtract(const Tensor& a, const Tensor& b) {
  Tensor d = Tensor::empty(a.shape(), DType::F32);
  for (int64_t i = 0; i < a.numel(); ++i) d.f32()[i] = a.f32()[i] - b.f32()[i];
  return d;
}

double total(const std::vector<double>& v) {
  double s = 0;
  for (double e : v) s += e;
  return s;
}

}  // namespace

Tensor input_gram(const std::vector<Tensor>& samples, const quant::QuantParams* input) {
  BITFOLD_CHECK(!samples.empty(), "input_gram: no samples");
  const int64_t K = samples[0].dim(1);
  std::vector<double> sum(size_t(K * K), 0.0);
  for (const Tensor& s : samples) {
    const Tensor x = input ? quant::fake_quantize(s, *input) : s;
    const Tensor xt = transpose(x);       // [K, T]
    const Tensor g = matmul_t(xt, xt);    // [K, K] = Xᵀ X
    for (int64_t i = 0; i < K * K; ++i) sum[size_t(i)] += g.f32()[i];
  }
  Tensor h = Tensor::empty({K, K}, DType::F32);
  for (int64_t i = 0; i < K * K; ++i) h.f32()[i] = float(sum[size_t(i)]);
  return h;
}

std::vector<double> row_errors(const Tensor& e, const Tensor& gram) {
  const int64_t N = e.dim(0), K = e.dim(1);
  const Tensor eh = matmul_t(e, gram);  // H symmetric: e Hᵀ = e H
  std::vector<double> out(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) {
    double s = 0;
    for (int64_t k = 0; k < K; ++k) s += double(eh.f32()[i * K + k]) * double(e.f32()[i * K + k]);
    out[size_t(i)] = s;
  }
  return out;
}

quant::QuantParams search_row_clip(const Tensor& w, const quant::QuantSpec& spec,
                                   const Tensor& gram, std::span<const double> ratios) {
  BITFOLD_CHECK(spec.granularity == quant::Granularity::OutputChannel && !ratios.empty(),
                "row clip search needs per-output-channel weights, got {}", quant::describe(spec));
  quant::QuantParams best;
  std::vector<double> best_error;
  for (double r : ratios) {
    quant::QuantSpec s = spec;
    s.clip = r;
    const quant::QuantParams p = quant::fit_params(s, w);
    const std::vector<double> err = row_errors(subtract(w, quant::fake_quantize(w, p)), gram);
    if (best_error.empty()) {
      best = p;
      best_error = err;
      continue;
    }
    for (size_t i = 0; i < err.size(); ++i)
      if (err[i] < best_error[i]) {
        best_error[i] = err[i];
        best.scale[i] = p.scale[i];
        if (!p.zero_point.empty()) best.zero_point[i] = p.zero_point[i];
      }
  }
  best.spec = spec;  // the steps are per row; the spec's own clip no longer describes them
  return best;
}

LowRank fit_low_rank(const Tensor& e, const Tensor& gram, int rank, int iterations, uint32_t seed) {
  const int64_t N = e.dim(0), K = e.dim(1);
  BITFOLD_CHECK(rank > 0 && rank <= std::min(N, K), "low-rank: rank {} for [{}, {}]", rank, N, K);
  LowRank lr;
  lr.error_before = total(row_errors(e, gram));
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Tensor a = Tensor::empty({rank, K}, DType::F32);
  for (int64_t i = 0; i < a.numel(); ++i) a.f32()[i] = normal(rng);
  Tensor b;
  const Tensor eh = matmul_t(e, gram);  // E H [N, K]
  const Tensor et = transpose(e);       // Eᵀ [K, N]
  for (int it = 0; it < iterations; ++it) {
    // B = E H Aᵀ (A H Aᵀ)⁻¹.
    const Tensor ah = matmul_t(a, gram);                      // A H [r, K]
    b = solve_right(matmul_t(eh, a), matmul_t(ah, a));        // [N, r]
    // A = (BᵀB)⁻¹ Bᵀ E  ⇔  Aᵀ (BᵀB) = Eᵀ B.
    const Tensor bt = transpose(b);                           // [r, N]
    a = transpose(solve_right(matmul_t(et, bt), matmul_t(bt, bt)));
  }
  lr.a = a;
  lr.b = b;
  const Tensor ba = matmul_t(b, transpose(a));  // B A [N, K]
  lr.error_after = total(row_errors(subtract(e, ba), gram));
  return lr;
}

}  // namespace bitfold::methods
