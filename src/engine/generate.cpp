#include "engine/generate.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"

namespace bitfold::engine {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Length of the longest prefix of s that does not end inside a UTF-8 sequence.
size_t complete_utf8_prefix(std::string_view s) {
  const size_t n = s.size();
  for (size_t back = 1; back <= std::min<size_t>(4, n); ++back) {
    const auto byte = static_cast<unsigned char>(s[n - back]);
    if ((byte & 0xC0) == 0x80) continue;  // continuation byte: look further back
    size_t length = 1;
    if ((byte & 0xE0) == 0xC0) length = 2;
    else if ((byte & 0xF0) == 0xE0) length = 3;
    else if ((byte & 0xF8) == 0xF0) length = 4;
    return back >= length ? n : n - back;
  }
  return n;  // only continuation bytes: not ours to judge (the tokenizer produced them)
}

}  // namespace

double GenerateStats::prefill_tokens_per_second() const {
  return prefill_seconds > 0 ? prompt_tokens / prefill_seconds : 0.0;
}

double GenerateStats::decode_tokens_per_second() const {
  return decode_seconds > 0 ? decode_steps / decode_seconds : 0.0;
}

Generation generate(const model::LlamaWeights& weights, std::span<const int32_t> prompt,
                    const GenerateOptions& options, const TokenCallback& on_token) {
  const model::ModelConfig& c = weights.config;
  if (prompt.empty()) fail("generate: the prompt has no tokens");
  if (options.max_new_tokens < 1)
    fail("generate: the number of tokens to generate must be at least 1, got {}",
         options.max_new_tokens);
  const int P = int(prompt.size());
  if (P >= c.max_seq_len)
    fail("the prompt has {} tokens, which leaves no room in the model's context of {}", P,
         c.max_seq_len);
  std::vector<int32_t> eos = options.eos_ids;
  if (eos.empty()) eos.assign(c.eos_ids.begin(), c.eos_ids.end());

  Generation g;
  g.prompt.assign(prompt.begin(), prompt.end());
  g.stats.prompt_tokens = P;
  const int capacity = int(std::min<int64_t>(c.max_seq_len, int64_t(P) + options.max_new_tokens));
  model::KVCache cache(c, capacity, weights.token_embedding.device());
  Sampler sampler(options.sampler);

  // Prefill: the whole prompt in one batch; only the last position's logits are needed.
  auto start = Clock::now();
  Tensor logits = model::forward(weights, prompt, 0, cache, model::Logits::Last, options.hook)
                      .to(Device::CPU);
  g.stats.prefill_seconds = seconds_since(start);

  auto row = [&] { return std::span<const float>(logits.f32(), size_t(logits.numel())); };
  int32_t next = sampler.sample(row());
  for (;;) {
    g.tokens.push_back(next);
    if (on_token) on_token(next);
    if (options.stop_at_eos && std::find(eos.begin(), eos.end(), next) != eos.end()) {
      g.stop = StopReason::Eos;
      break;
    }
    if (int(g.tokens.size()) >= options.max_new_tokens) {
      g.stop = StopReason::Length;
      break;
    }
    const int pos = P + int(g.tokens.size()) - 1;  // where `next` goes
    if (pos >= capacity) {
      g.stop = StopReason::Context;
      break;
    }
    // Decode: one token against the cache.
    start = Clock::now();
    logits = model::forward(weights, std::span(&next, 1), pos, cache, model::Logits::Last,
                            options.hook)
                 .to(Device::CPU);
    next = sampler.sample(row());
    g.stats.decode_seconds += seconds_since(start);
    ++g.stats.decode_steps;
  }
  g.stats.generated_tokens = int(g.tokens.size());
  return g;
}

Generation generate(const model::LlamaWeights& weights, const text::Tokenizer& tokenizer,
                    std::string_view prompt, const GenerateOptions& options,
                    const TextCallback& on_text) {
  std::vector<int32_t> ids;
  const int bos = tokenizer.bos_id() >= 0 ? tokenizer.bos_id() : weights.config.bos_id;
  if (bos >= 0) ids.push_back(bos);
  const std::vector<int32_t> encoded = tokenizer.encode(prompt);
  ids.insert(ids.end(), encoded.begin(), encoded.end());

  GenerateOptions opts = options;
  if (opts.eos_ids.empty()) opts.eos_ids.assign(weights.config.eos_ids.begin(),
                                                weights.config.eos_ids.end());
  if (tokenizer.eos_id() >= 0) opts.eos_ids.push_back(tokenizer.eos_id());

  TextStream stream(tokenizer, ids);
  Generation g = generate(weights, ids, opts, [&](int32_t id) {
    const std::string piece = stream.push(id);
    if (!piece.empty() && on_text) on_text(piece);
  });
  const std::string tail = stream.finish();
  if (!tail.empty() && on_text) on_text(tail);
  // The whole continuation, decoded in one go after the prompt (what the stream added up to).
  std::vector<int32_t> all = ids;
  all.insert(all.end(), g.tokens.begin(), g.tokens.end());
  const std::string full = tokenizer.decode(all);
  const std::string head = tokenizer.decode(ids);
  g.text = full.compare(0, head.size(), head) == 0 ? full.substr(head.size()) : full;
  return g;
}

// ---------------------------------------------------------------------------------------------

TextStream::TextStream(const text::Tokenizer& tokenizer, std::span<const int32_t> context)
    : tokenizer_(tokenizer), ids_(context.begin(), context.end()), anchor_(context.size()) {}

std::string TextStream::pending_text() const {
  if (anchor_ == 0) return tokenizer_.decode(ids_);
  // Decode from the token before the anchor so that a leading space (or the lack of one after
  // BOS) comes out as in the whole sequence, then drop that token's own text.
  const std::span<const int32_t> from_context(ids_.data() + anchor_ - 1, ids_.size() - anchor_ + 1);
  const std::string head = tokenizer_.decode(from_context.first(1));
  const std::string full = tokenizer_.decode(from_context);
  size_t common = 0;
  while (common < head.size() && common < full.size() && head[common] == full[common]) ++common;
  return full.substr(common);
}

std::string TextStream::push(int32_t id) {
  ids_.push_back(id);
  std::string fresh = pending_text();
  if (complete_utf8_prefix(fresh) != fresh.size()) return {};  // hold an incomplete character
  anchor_ = ids_.size();
  return fresh;
}

std::string TextStream::finish() {
  std::string fresh = pending_text();
  anchor_ = ids_.size();
  return fresh;
}

}  // namespace bitfold::engine
