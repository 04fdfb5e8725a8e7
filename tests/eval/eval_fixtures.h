#pragma once
// Shared by the eval tests: the tiny random HF checkpoint (GQA, 128 positions, vocabulary 320,
// enough for byte tokens) and a naive scorer that recomputes every request from position 0 in a
// fresh cache, with log-softmax in double — the reference the shared-prefill scorer must match.
#include <cmath>
#include <span>
#include <vector>

#include "eval/loglikelihood.h"
#include "model/llama.h"
#include "model/loader.h"
#include "test_support.h"

namespace bitfold::testing {

inline const model::LlamaWeights& tiny_gqa() {
  static const model::LlamaWeights w = model::load_weights(repo_path("tests/data/golden/tiny-gqa"));
  return w;
}

inline eval::LoglikResult naive_loglik(const model::LlamaWeights& w,
                                       const eval::TokenizedRequest& r) {
  const std::span<const int32_t> fed(r.tokens.data(), r.tokens.size() - 1);
  model::KVCache cache(w.config, int(fed.size()));
  const Tensor logits = model::forward(w, fed, 0, cache, model::Logits::All);
  const int64_t vocab = logits.dim(1);
  eval::LoglikResult out;
  out.greedy = true;
  const size_t first = r.tokens.size() - size_t(r.continuation);
  for (size_t pos = first - 1; pos + 1 < r.tokens.size(); ++pos) {
    const float* row = logits.f32() + int64_t(pos) * vocab;
    double mx = row[0];
    int64_t best = 0;
    for (int64_t v = 1; v < vocab; ++v)
      if (row[v] > row[best]) best = v;
    mx = row[best];
    double z = 0;
    for (int64_t v = 0; v < vocab; ++v) z += std::exp(double(row[v]) - mx);
    const int32_t target = r.tokens[pos + 1];
    out.loglik += double(row[target]) - mx - std::log(z);
    out.greedy = out.greedy && best == target;
  }
  return out;
}

}  // namespace bitfold::testing
