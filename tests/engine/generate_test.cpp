#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "engine/generate.h"
#include "random_model.h"

namespace bitfold::engine {
namespace {

using testing::ByteTokenizer;
using testing::random_model;

// Greedy continuation computed the slow way: the whole sequence through the model every step,
// no cache reuse.
std::vector<int32_t> greedy_without_cache(const model::LlamaWeights& w, std::vector<int32_t> seq,
                                          int n) {
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    model::KVCache cache(w.config, int(seq.size()));
    const Tensor logits = model::forward(w, seq, 0, cache, model::Logits::Last);
    const int32_t next = argmax(std::span<const float>(logits.f32(), size_t(logits.numel())));
    out.push_back(next);
    seq.push_back(next);
  }
  return out;
}

TEST(Generate, GreedyMatchesRecomputingEveryStep) {
  const auto w = random_model({.vocab = 41, .max_seq_len = 64}, 5);
  const std::vector<int32_t> prompt = {1, 7, 19, 3};
  GenerateOptions opts;
  opts.max_new_tokens = 20;
  opts.sampler.temperature = 0.0f;
  opts.stop_at_eos = false;
  std::vector<int32_t> streamed;
  const Generation g = generate(w, prompt, opts, [&](int32_t id) { streamed.push_back(id); });
  EXPECT_EQ(g.tokens, greedy_without_cache(w, prompt, 20));
  EXPECT_EQ(streamed, g.tokens);
  EXPECT_EQ(g.stop, StopReason::Length);
  EXPECT_EQ(g.stats.prompt_tokens, 4);
  EXPECT_EQ(g.stats.generated_tokens, 20);
  EXPECT_EQ(g.stats.decode_steps, 19);
}

TEST(Generate, StopsAtEosAndAtTheContext) {
  const auto w = random_model({.vocab = 41, .max_seq_len = 12}, 6);
  const std::vector<int32_t> prompt = {1, 5, 9};
  GenerateOptions opts;
  opts.max_new_tokens = 100;
  opts.sampler.temperature = 0.0f;
  opts.stop_at_eos = false;
  const Generation all = generate(w, prompt, opts);
  EXPECT_EQ(all.stop, StopReason::Context);
  EXPECT_EQ(all.tokens.size(), 10u);  // 3 + 9 positions filled, the 10th token needs no forward

  opts.stop_at_eos = true;
  opts.eos_ids = {all.tokens[3]};  // pretend the 4th token is EOS
  const Generation eos = generate(w, prompt, opts);
  EXPECT_EQ(eos.stop, StopReason::Eos);
  EXPECT_EQ(eos.tokens.back(), all.tokens[3]);
  EXPECT_LE(eos.tokens.size(), 4u);

  EXPECT_THROW(generate(w, std::vector<int32_t>(12, 1), opts), Error);  // no room left
  opts.max_new_tokens = 0;
  EXPECT_THROW(generate(w, prompt, opts), Error);
}

TEST(Generate, SeededSamplingReproduces) {
  const auto w = random_model({.vocab = 41}, 7);
  GenerateOptions opts;
  opts.max_new_tokens = 30;
  opts.stop_at_eos = false;
  opts.sampler = {.temperature = 1.0f, .top_k = 10, .top_p = 0.95f, .seed = 99};
  const std::vector<int32_t> prompt = {1, 2, 3};
  EXPECT_EQ(generate(w, prompt, opts).tokens, generate(w, prompt, opts).tokens);
}

TEST(Generate, StreamsTextOfTheTokenizer) {
  const auto w = random_model({.vocab = 259}, 8);
  const ByteTokenizer tok;
  GenerateOptions opts;
  opts.max_new_tokens = 25;
  opts.sampler.temperature = 0.0f;
  opts.stop_at_eos = false;
  std::string streamed;
  const Generation g = generate(w, tok, "hi", opts, [&](std::string_view s) { streamed += s; });
  EXPECT_EQ(g.prompt, (std::vector<int32_t>{1, 'h' + 3, 'i' + 3}));
  EXPECT_EQ(g.text, tok.decode(g.tokens));
  EXPECT_EQ(streamed, g.text);
}

TEST(TextStream, HoldsBackIncompleteUtf8) {
  const ByteTokenizer tok;
  const std::vector<int32_t> context = {1};
  TextStream s(tok, context);
  EXPECT_EQ(s.push('a' + 3), "a");
  EXPECT_EQ(s.push(0xC3 + 3), "");   // first byte of "é"
  EXPECT_EQ(s.push(0xA9 + 3), "é");
  EXPECT_EQ(s.push(0xE2 + 3), "");   // "€" = E2 82 AC
  EXPECT_EQ(s.push(0x82 + 3), "");
  EXPECT_EQ(s.push(0xAC + 3), "€");
  EXPECT_EQ(s.push(0xF0 + 3), "");
  EXPECT_EQ(s.finish(), "\xF0");     // released at the end as it is
}

}  // namespace
}  // namespace bitfold::engine
