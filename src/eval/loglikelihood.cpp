#include "eval/loglikelihood.h"

#include <algorithm>

#include "core/error.h"
#include "eval/harness_text.h"
#include "ops/ops.h"

namespace bitfold::eval {

namespace {

std::vector<int32_t> with_bos(int bos, std::vector<int32_t> ids) {
  if (bos >= 0) ids.insert(ids.begin(), bos);
  return ids;
}

// Index of the largest logit of a row (first on ties, like torch.argmax).
int64_t argmax(const float* row, int64_t n) {
  int64_t best = 0;
  for (int64_t v = 1; v < n; ++v)
    if (row[v] > row[best]) best = v;
  return best;
}

}  // namespace

TokenizedRequest tokenize_request(const text::Tokenizer& tokenizer, const LoglikRequest& request,
                                  int bos, int max_len, std::string_view where) {
  std::string_view context = request.context;
  std::string continuation = request.continuation;
  std::vector<int32_t> context_ids, continuation_ids;
  if (context.empty()) {
    if (bos < 0) fail("{}: empty context and no BOS token to stand for it", where);
    context_ids = {bos};
    continuation_ids = tokenizer.encode(continuation);
  } else {
    const std::string_view stripped = python_rstrip(context);
    continuation.insert(0, context.substr(stripped.size()));
    context = stripped;
    const std::vector<int32_t> whole = with_bos(bos, tokenizer.encode(std::string(context) + continuation));
    context_ids = with_bos(bos, tokenizer.encode(context));
    if (whole.size() > context_ids.size())
      continuation_ids.assign(whole.begin() + ptrdiff_t(context_ids.size()), whole.end());
  }
  if (continuation_ids.empty()) fail("{}: the continuation encodes to no tokens", where);
  if (int64_t(continuation_ids.size()) > max_len)
    fail("{}: a continuation of {} tokens does not fit the model's context of {}", where,
         continuation_ids.size(), max_len);

  TokenizedRequest r;
  r.tokens = std::move(context_ids);
  r.tokens.insert(r.tokens.end(), continuation_ids.begin(), continuation_ids.end());
  r.continuation = int(continuation_ids.size());
  const size_t keep = size_t(max_len) + 1;
  if (r.tokens.size() > keep) {
    r.tokens.erase(r.tokens.begin(), r.tokens.end() - ptrdiff_t(keep));
    r.truncated = true;
  }
  return r;
}

GroupScore score_requests(const model::LlamaWeights& weights, model::KVCache& cache,
                          std::span<const TokenizedRequest> requests,
                          const model::ActivationHook& hook) {
  GroupScore out;
  if (requests.empty()) return out;
  // Fed tokens of request k: tokens[0, n_k − 1); its first scored token sits at c_k = n_k − cont_k
  // and is predicted by the logits of position c_k − 1.
  size_t prefix = SIZE_MAX;
  for (const TokenizedRequest& r : requests) {
    BITFOLD_CHECK(r.continuation >= 1 && size_t(r.continuation) < r.tokens.size() &&
                      r.tokens.size() <= size_t(cache.max_seq()) + 1,
                  "request of {} tokens, {} scored, cache {}", r.tokens.size(), r.continuation,
                  cache.max_seq());
    prefix = std::min(prefix, r.tokens.size() - size_t(r.continuation));
  }
  const std::span<const int32_t> first = requests[0].tokens;
  for (const TokenizedRequest& r : requests) {
    size_t common = 0;
    while (common < prefix && r.tokens[common] == first[common]) ++common;
    prefix = common;
  }

  // The shared prefill; its last row predicts position `prefix`.
  Tensor prefix_logits;
  if (prefix > 0) {
    prefix_logits = model::forward(weights, first.subspan(0, prefix), 0, cache, model::Logits::Last, hook);
    out.forwarded_tokens += int64_t(prefix);
  }
  const int64_t vocab = weights.config.vocab_size;
  for (const TokenizedRequest& r : requests) {
    const size_t fed = r.tokens.size() - 1;
    const size_t first_scored = r.tokens.size() - size_t(r.continuation);
    Tensor rest_logits;  // positions prefix .. fed − 1
    if (fed > prefix) {
      const std::span<const int32_t> rest(r.tokens.data() + prefix, fed - prefix);
      rest_logits = model::forward(weights, rest, int(prefix), cache, model::Logits::All, hook);
      out.forwarded_tokens += int64_t(rest.size());
    }
    // Rows for positions first_scored − 1 .. fed − 1, gathered into one CPU tensor.
    const int64_t rows = r.continuation;
    Tensor gathered = Tensor::empty({rows, vocab}, DType::F32);
    for (int64_t i = 0; i < rows; ++i) {
      const size_t pos = first_scored - 1 + size_t(i);
      const Tensor src = pos + 1 == prefix ? prefix_logits : rest_logits.slice_rows(int64_t(pos - prefix), int64_t(pos - prefix) + 1);
      gathered.slice_rows(i, i + 1).copy_from(src.view({1, vocab}));
    }
    const std::span<const int32_t> targets(r.tokens.data() + first_scored, size_t(rows));
    const std::vector<double> nll = ops::token_nll(gathered, targets);
    LoglikResult res;
    res.greedy = true;
    for (int64_t i = 0; i < rows; ++i) {
      res.loglik -= nll[size_t(i)];
      res.greedy = res.greedy && argmax(gathered.f32() + i * vocab, vocab) == targets[size_t(i)];
    }
    out.results.push_back(res);
  }
  return out;
}

}  // namespace bitfold::eval
