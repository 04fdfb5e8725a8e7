// The harness's tokenization of (context, continuation) pairs, and the shared-prefill scorer
// against a naive full recompute of every request on the tiny random checkpoint.
#include <gtest/gtest.h>

#include <random>

#include "eval/loglikelihood.h"
#include "eval_fixtures.h"
#include "file_fixtures.h"
#include "random_model.h"

namespace bitfold::eval {
namespace {

using testing::ByteTokenizer;
using Ids = std::vector<int32_t>;

Ids bytes(std::string_view s) {
  Ids out;
  for (unsigned char c : s) out.push_back(int32_t(c) + 3);
  return out;
}
Ids cat(Ids a, const Ids& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Bytes, except that "ab" is one token (id 300): a seam can then split differently when the
// context is encoded alone.
class MergingTokenizer : public ByteTokenizer {
 public:
  std::vector<int32_t> encode(std::string_view text) const override {
    Ids out;
    for (size_t i = 0; i < text.size(); ++i) {
      if (text.substr(i, 2) == "ab") {
        out.push_back(300);
        ++i;
      } else {
        out.push_back(int32_t(static_cast<unsigned char>(text[i])) + 3);
      }
    }
    return out;
  }
};

TEST(Loglikelihood, TokenizesLikeTheHarness) {
  const ByteTokenizer tok;
  TokenizedRequest r = tokenize_request(tok, {"Answer:", " yes"}, 1, 100, "t");
  EXPECT_EQ(r.tokens, cat(cat({1}, bytes("Answer:")), bytes(" yes")));
  EXPECT_EQ(r.continuation, 4);
  EXPECT_FALSE(r.truncated);
  // Trailing whitespace of the context moves to the continuation.
  r = tokenize_request(tok, {"Answer: \n", "yes"}, 1, 100, "t");
  EXPECT_EQ(r.tokens, cat(cat({1}, bytes("Answer:")), bytes(" \nyes")));
  EXPECT_EQ(r.continuation, 5);
  // No BOS (older harness versions).
  r = tokenize_request(tok, {"ab", " c"}, -1, 100, "t");
  EXPECT_EQ(r.tokens, cat(bytes("ab"), bytes(" c")));
  // An empty context is BOS alone.
  r = tokenize_request(tok, {"", " Alone"}, 1, 100, "t");
  EXPECT_EQ(r.tokens, cat({1}, bytes(" Alone")));
  EXPECT_EQ(r.continuation, 6);
  testing::expect_error([&] { tokenize_request(tok, {"", " x"}, -1, 100, "item 7"); },
                        {"item 7", "empty context"});
  testing::expect_error([&] { tokenize_request(tok, {"ctx", ""}, 1, 100, "item 8"); },
                        {"item 8", "no tokens"});
}

TEST(Loglikelihood, ContinuationIsTheJointEncodingsTail) {
  const MergingTokenizer tok;
  // context "xa" alone: [x, a]; joint "xabc": [x, ab, c] → continuation = joint[3:] = [c].
  const TokenizedRequest r = tokenize_request(tok, {"xa", "bc"}, 1, 100, "t");
  EXPECT_EQ(r.tokens, (Ids{1, 'x' + 3, 'a' + 3, 'c' + 3}));
  EXPECT_EQ(r.continuation, 1);
}

TEST(Loglikelihood, LeftTruncationToTheModelContext) {
  const ByteTokenizer tok;
  const TokenizedRequest r = tokenize_request(tok, {"0123456789", " ab"}, 1, 8, "t");
  EXPECT_TRUE(r.truncated);
  // BOS + 10 + 3 tokens cut to the last max_len + 1 = 9 (the last one is scored, not fed).
  EXPECT_EQ(r.tokens, cat(bytes("456789"), bytes(" ab")));
  EXPECT_EQ(r.continuation, 3);
  testing::expect_error([&] { tokenize_request(tok, {"c", " far too long"}, 1, 8, "item 3"); },
                        {"item 3", "13 tokens", "context of 8"});
}

// Random requests built to hit every path: shared contexts of several lengths, one-token
// continuations (nothing to feed after the prefill), choices sharing their first continuation
// tokens, different first tokens (no shared prefix at all), truncation at the model's context.
std::vector<std::vector<TokenizedRequest>> request_groups(int max_len) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> byte(3, 258);
  const auto random_ids = [&](int n) {
    Ids out;
    for (int i = 0; i < n; ++i) out.push_back(byte(rng));
    return out;
  };
  std::vector<std::vector<TokenizedRequest>> groups;
  for (int ctx_len : {1, 2, 7, 31, 64}) {
    const Ids context = cat({1}, random_ids(ctx_len));
    std::vector<TokenizedRequest> g;
    for (int cont_len : {1, 4, 13}) g.push_back({cat(context, random_ids(cont_len)), cont_len});
    const Ids shared_start = random_ids(3);  // two choices with the same first tokens
    g.push_back({cat(cat(context, shared_start), random_ids(2)), 5});
    g.push_back({cat(cat(context, shared_start), random_ids(4)), 7});
    groups.push_back(g);
  }
  // Contexts that differ from their first token (winogrande-like without BOS).
  groups.push_back({{cat(random_ids(9), random_ids(3)), 3}, {cat(random_ids(11), random_ids(3)), 3}});
  // Winogrande-like: contexts share a prefix, then differ; the same continuation.
  const Ids stem = cat({1}, random_ids(20)), tail = random_ids(6);
  groups.push_back({{cat(cat(stem, random_ids(2)), tail), 6}, {cat(cat(stem, random_ids(5)), tail), 6}});
  // At the model's context: max_len + 1 tokens.
  groups.push_back({{cat({1}, random_ids(max_len)), 10}, {cat({1}, random_ids(max_len)), 1}});
  return groups;
}

TEST(Loglikelihood, SharedPrefillEqualsNaiveRecompute) {
  const model::LlamaWeights& w = testing::tiny_gqa();
  model::KVCache cache(w.config, w.config.max_seq_len);
  int checked = 0;
  for (const auto& group : request_groups(w.config.max_seq_len)) {
    const GroupScore s = score_requests(w, cache, group);
    ASSERT_EQ(s.results.size(), group.size());
    int64_t naive_tokens = 0;
    for (size_t k = 0; k < group.size(); ++k) {
      const LoglikResult ref = testing::naive_loglik(w, group[k]);
      EXPECT_NEAR(s.results[k].loglik, ref.loglik, 1e-4 * (1 + std::abs(ref.loglik)));
      EXPECT_EQ(s.results[k].greedy, ref.greedy);
      EXPECT_LT(s.results[k].loglik, 0);
      naive_tokens += int64_t(group[k].tokens.size()) - 1;
      ++checked;
    }
    EXPECT_LE(s.forwarded_tokens, naive_tokens);
  }
  EXPECT_EQ(checked, 5 * 5 + 2 + 2 + 2);
}

TEST(Loglikelihood, GreedyMeansEveryTokenIsTheArgmax) {
  const model::LlamaWeights& w = testing::tiny_gqa();
  // Extend a context greedily with the naive forward; that continuation is greedy, and changing
  // its last token makes it not.
  Ids seq = cat({1}, bytes("The model"));
  const size_t context = seq.size();
  for (int i = 0; i < 5; ++i) {
    model::KVCache c(w.config, int(seq.size()));
    const Tensor logits = model::forward(w, seq, 0, c, model::Logits::Last);
    int32_t best = 0;
    for (int32_t v = 1; v < int32_t(logits.dim(1)); ++v)
      if (logits.f32()[v] > logits.f32()[best]) best = v;
    seq.push_back(best);
  }
  const TokenizedRequest greedy{seq, int(seq.size() - context)};
  TokenizedRequest other = greedy;
  other.tokens.back() = other.tokens.back() == 5 ? 6 : 5;
  model::KVCache cache(w.config, w.config.max_seq_len);
  const GroupScore s = score_requests(w, cache, std::vector<TokenizedRequest>{greedy, other});
  EXPECT_TRUE(s.results[0].greedy);
  EXPECT_FALSE(s.results[1].greedy);
  EXPECT_GT(s.results[0].loglik, s.results[1].loglik);
}

}  // namespace
}  // namespace bitfold::eval
