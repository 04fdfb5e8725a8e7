#pragma once
// A float64 Llama block written with plain loops (no code shared with src/), for the forward
// tests: llama_test's whole model and folded_norm_test's extended block differ only in their
// norms, so the block takes the two norms as functions.
#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "model/config.h"
#include "model/weights.h"

namespace bitfold::testing {

using Matrix = std::vector<std::vector<double>>;  // [rows][cols]

inline Matrix ref_linear(const Matrix& x, const model::Linear& l) {
  const int64_t N = l.weight.dim(0), K = l.weight.dim(1);
  Matrix y(x.size(), std::vector<double>(size_t(N)));
  for (size_t t = 0; t < x.size(); ++t)
    for (int64_t n = 0; n < N; ++n) {
      double s = l.bias.defined() ? double(l.bias.f32()[n]) : 0.0;
      for (int64_t k = 0; k < K; ++k) s += x[t][size_t(k)] * double(l.weight.f32()[n * K + k]);
      y[t][size_t(n)] = s;
    }
  return y;
}

// Rotates every head of x (positions 0..T-1) in place, rotate-half pairing.
inline void ref_rope(Matrix& x, int head_dim, double theta) {
  const int half = head_dim / 2;
  for (size_t pos = 0; pos < x.size(); ++pos)
    for (size_t h = 0; h < x[pos].size() / size_t(head_dim); ++h)
      for (int i = 0; i < half; ++i) {
        const double a = double(pos) / std::pow(theta, 2.0 * i / head_dim);
        double& x1 = x[pos][h * size_t(head_dim) + size_t(i)];
        double& x2 = x[pos][h * size_t(head_dim) + size_t(i + half)];
        const double r1 = x1 * std::cos(a) - x2 * std::sin(a);
        const double r2 = x2 * std::cos(a) + x1 * std::sin(a);
        x1 = r1;
        x2 = r2;
      }
}

using RefNorm = std::function<Matrix(const Matrix& x)>;

// One block's output on x (positions 0..T-1): causal GQA attention and the SwiGLU MLP, each
// behind its norm and with its residual.
inline Matrix ref_block(const model::ModelConfig& c, const model::LayerWeights& L, Matrix x,
                        const RefNorm& attn_norm, const RefNorm& ffn_norm) {
  const size_t T = x.size();
  const int hd = c.head_dim;
  const Matrix n1 = attn_norm(x);
  Matrix q = ref_linear(n1, L.q), k = ref_linear(n1, L.k);
  const Matrix v = ref_linear(n1, L.v);
  ref_rope(q, hd, c.rope_theta);
  ref_rope(k, hd, c.rope_theta);
  Matrix att(T, std::vector<double>(size_t(c.q_dim()), 0.0));
  for (size_t t = 0; t < T; ++t)
    for (int h = 0; h < c.n_heads; ++h) {
      const int kvh = h / (c.n_heads / c.n_kv_heads);
      std::vector<double> p(t + 1);
      double m = -1e300, z = 0;
      for (size_t j = 0; j <= t; ++j) {
        double s = 0;
        for (int i = 0; i < hd; ++i) s += q[t][size_t(h * hd + i)] * k[j][size_t(kvh * hd + i)];
        p[j] = s / std::sqrt(double(hd));
        m = std::max(m, p[j]);
      }
      for (double& e : p) z += (e = std::exp(e - m));
      for (size_t j = 0; j <= t; ++j)
        for (int i = 0; i < hd; ++i)
          att[t][size_t(h * hd + i)] += p[j] / z * v[j][size_t(kvh * hd + i)];
    }
  const Matrix o = ref_linear(att, L.o);
  for (size_t t = 0; t < T; ++t)
    for (int i = 0; i < c.dim; ++i) x[t][size_t(i)] += o[t][size_t(i)];
  const Matrix n2 = ffn_norm(x);
  Matrix g = ref_linear(n2, L.gate);
  const Matrix u = ref_linear(n2, L.up);
  for (size_t t = 0; t < T; ++t)
    for (size_t i = 0; i < g[t].size(); ++i) g[t][i] = g[t][i] / (1 + std::exp(-g[t][i])) * u[t][i];
  const Matrix d = ref_linear(g, L.down);
  for (size_t t = 0; t < T; ++t)
    for (int i = 0; i < c.dim; ++i) x[t][size_t(i)] += d[t][size_t(i)];
  return x;
}

}  // namespace bitfold::testing
