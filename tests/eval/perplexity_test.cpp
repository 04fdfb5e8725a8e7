// The perplexity convention (one BOS, non-overlapping windows, tail dropped, ctx − 1 scored per
// window, exp of the mean NLL) checked against a computation written out here.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <numeric>

#include "core/error.h"
#include "eval/perplexity.h"
#include "random_model.h"
#include "test_support.h"

namespace bitfold::eval {
namespace {

using testing::ByteTokenizer;
using testing::random_model;

std::filesystem::path write_text(const std::string& name, const std::string& text) {
  const auto path = testing::scratch_dir("perplexity_" + name) / "text.txt";
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

TEST(Perplexity, UniformLogitsGiveTheVocabularySize) {
  std::vector<int32_t> tokens(10);
  std::iota(tokens.begin(), tokens.end(), 0);
  int calls = 0;
  const WindowLogits uniform = [&](std::span<const int32_t> window) {
    EXPECT_EQ(window[0], int32_t(calls * 4));  // windows 0..3 and 4..7, tail 8, 9 dropped
    ++calls;
    return Tensor::zeros({int64_t(window.size()), 17}, DType::F32);
  };
  const PerplexityResult r = perplexity(tokens, 4, uniform, false);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(r.windows, 2);
  EXPECT_EQ(r.scored_tokens, 6);
  EXPECT_NEAR(r.ppl, 17.0, 1e-9);
}

TEST(Perplexity, PositionIPredictsTokenIPlusOne) {
  std::vector<int32_t> tokens = {1, 5, 3, 8, 2, 2, 7, 4, 6};
  const auto peaked = [](int shift) {
    return [shift](std::span<const int32_t> window) {
      Tensor t = Tensor::zeros({int64_t(window.size()), 10}, DType::F32);
      for (size_t i = 0; i + size_t(shift) < window.size(); ++i)
        t.f32()[i * 10 + size_t(window[i + size_t(shift)])] = 30.0f;
      return t;
    };
  };
  EXPECT_NEAR(perplexity(tokens, 3, peaked(1), false).ppl, 1.0, 1e-9);
  EXPECT_GT(perplexity(tokens, 3, peaked(0), false).ppl, 1e6);
}

TEST(Perplexity, OfATextFileWithTheModel) {
  const auto w = random_model({.vocab = 259, .max_seq_len = 16}, 3);
  const ByteTokenizer tok;
  const std::string text = "The quick brown fox jumps over the lazy dog, twice over.";  // 56 bytes
  const auto path = write_text("model", text);
  const PerplexityResult r = perplexity(w, tok, path, {.ctx = 16, .progress = false});

  // By hand: BOS + bytes = 57 tokens → 3 windows of 16, 9 dropped; each window on its own.
  std::vector<int32_t> tokens = {1};
  for (unsigned char ch : text) tokens.push_back(int32_t(ch) + 3);
  double nll = 0;
  for (int win = 0; win < 3; ++win) {
    const std::vector<int32_t> window(tokens.begin() + win * 16, tokens.begin() + win * 16 + 16);
    model::KVCache cache(w.config, 16);
    const Tensor logits = model::forward(w, window, 0, cache, model::Logits::All);
    for (int i = 0; i + 1 < 16; ++i) {
      const float* row = logits.f32() + i * 259;
      double z = 0;
      for (int j = 0; j < 259; ++j) z += std::exp(double(row[j]));
      nll += std::log(z) - row[window[size_t(i + 1)]];
    }
  }
  EXPECT_EQ(r.windows, 3);
  EXPECT_EQ(r.scored_tokens, 45);
  EXPECT_EQ(r.file_tokens, 57);
  EXPECT_NEAR(r.mean_nll, nll / 45, 1e-6);
  EXPECT_NEAR(r.ppl, std::exp(nll / 45), 1e-6 * r.ppl);
  EXPECT_GT(r.tokens_per_second, 0);

  // The default window is the model's context (16 here, under the 2048 cap).
  EXPECT_EQ(perplexity(w, tok, path, {.progress = false}).ctx, 16);
}

TEST(Perplexity, RejectsBadInputs) {
  const auto w = random_model({.vocab = 259, .max_seq_len = 16}, 4);
  const ByteTokenizer tok;
  const auto empty = write_text("empty", "");
  const auto shorter = write_text("short", "too short");  // 10 tokens with BOS
  const auto fine = write_text("fine", std::string(40, 'x'));
  EXPECT_THROW(perplexity(w, tok, empty, {.progress = false}), Error);
  EXPECT_THROW(perplexity(w, tok, shorter, {.ctx = 16, .progress = false}), Error);
  EXPECT_THROW(perplexity(w, tok, fine, {.ctx = 17, .progress = false}), Error);  // > max_seq_len
  EXPECT_THROW(perplexity(w, tok, fine, {.ctx = 1, .progress = false}), Error);
  EXPECT_THROW(perplexity(w, tok, fine, {.ctx = -3, .progress = false}), Error);
  EXPECT_THROW(perplexity(w, tok, fine.parent_path() / "missing.txt", {.progress = false}), Error);
  try {
    perplexity(w, tok, shorter, {.ctx = 16, .progress = false});
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("text.txt"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace bitfold::eval
