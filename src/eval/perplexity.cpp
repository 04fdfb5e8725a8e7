#include "eval/perplexity.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fmt/format.h>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/progress.h"
#include "ops/ops.h"

namespace bitfold::eval {

namespace {

using Clock = std::chrono::steady_clock;

// Rows 0..ctx−2 of a window's logits (position i predicts token i + 1), on their device.
Tensor scored_rows(const Tensor& window_logits, int ctx) {
  BITFOLD_CHECK(window_logits.rank() == 2 && window_logits.dim(0) == ctx,
                "window logits {} for a window of {}", shape_str(window_logits.shape()), ctx);
  return window_logits.slice_rows(0, ctx - 1);
}

Tensor on_cpu(const Tensor& t) { return t.is_cpu() ? t : t.to(Device::CPU); }

double sum(const std::vector<double>& values) {
  double s = 0;
  for (double v : values) s += v;
  return s;
}

}  // namespace

int default_ctx(const model::ModelConfig& config) { return std::min(config.max_seq_len, 2048); }

PerplexityResult perplexity(std::span<const int32_t> tokens, const WindowLogits& logits,
                            const WindowScoring& how) {
  const int ctx = how.ctx;
  if (ctx < 2) fail("perplexity: the window must be at least 2 tokens, got {}", ctx);
  if (how.max_windows < 0) fail("perplexity: --max-windows must be positive, got {}", how.max_windows);
  const int64_t n = int64_t(tokens.size());
  if (n < ctx)
    fail("{}: {} tokens, fewer than one window of {} (use a longer text or a smaller --ctx)",
         how.source, n, ctx);

  PerplexityResult r;
  r.ctx = ctx;
  r.total_windows = int(n / ctx);
  r.windows = how.max_windows > 0 ? std::min(how.max_windows, r.total_windows) : r.total_windows;
  r.file_tokens = n;
  ProgressBar bar("ppl (windows)", r.windows, how.progress);
  KlAccumulator kl;
  const auto start = Clock::now();
  double nll_sum = 0.0, base_nll_sum = 0.0;
  for (int i = 0; i < r.windows; ++i) {
    // Evenly spaced when capped, so a capped run still samples the whole file.
    const int64_t w = int64_t(i) * r.total_windows / r.windows;
    const std::span<const int32_t> window = tokens.subspan(size_t(w) * size_t(ctx), size_t(ctx));
    const std::span<const int32_t> targets = window.subspan(1);
    const Tensor rows = scored_rows(logits(window), ctx);
    nll_sum += sum(ops::token_nll(rows, targets));
    r.scored_tokens += ctx - 1;
    std::string status = fmt::format("ppl {:.4f}", std::exp(nll_sum / double(r.scored_tokens)));
    if (how.base) {
      const Tensor base_rows = scored_rows(how.base(window), ctx);
      base_nll_sum += sum(ops::token_nll(base_rows, targets));
      kl.add(compare_distributions(on_cpu(base_rows), on_cpu(rows)));
      status += fmt::format("  KL {:.5f}", kl.running_mean());
    }
    bar.advance(1, status);
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.mean_nll = nll_sum / double(r.scored_tokens);
  r.ppl = std::exp(r.mean_nll);
  r.tokens_per_second = r.seconds > 0 ? double(r.windows) * ctx / r.seconds : 0.0;
  if (how.base) {
    r.base_ppl = std::exp(base_nll_sum / double(r.scored_tokens));
    r.kl = kl.summary();
  }
  return r;
}

PerplexityResult perplexity(std::span<const int32_t> tokens, int ctx, const WindowLogits& logits,
                            bool progress, std::string_view source) {
  return perplexity(tokens, logits, {.ctx = ctx, .progress = progress, .source = source});
}

PerplexityResult perplexity(const model::LlamaWeights& weights, const text::Tokenizer& tokenizer,
                            const std::filesystem::path& text_file,
                            const PerplexityOptions& options) {
  const model::ModelConfig& c = weights.config;
  const int ctx = options.ctx > 0 ? options.ctx : default_ctx(c);
  if (options.ctx < 0 || ctx < 2) fail("perplexity: --ctx must be at least 2, got {}", options.ctx);
  if (ctx > c.max_seq_len)
    fail("perplexity: --ctx {} is larger than the model's context of {} tokens", ctx,
         c.max_seq_len);
  const model::LlamaWeights* base = options.kl_base;
  if (base) {
    if (base->config.vocab_size != c.vocab_size)
      fail("perplexity: the KL base model has a vocabulary of {} tokens, the model {}",
           base->config.vocab_size, c.vocab_size);
    if (ctx > base->config.max_seq_len)
      fail("perplexity: --ctx {} is larger than the KL base model's context of {} tokens", ctx,
           base->config.max_seq_len);
  }

  const std::string text = read_text_file(text_file);
  if (text.empty()) fail("{}: empty text file", text_file.string());
  std::vector<int32_t> tokens;
  const int bos = tokenizer.bos_id() >= 0 ? tokenizer.bos_id() : c.bos_id;
  if (bos >= 0) tokens.push_back(bos);
  const std::vector<int32_t> encoded = tokenizer.encode(text);
  tokens.insert(tokens.end(), encoded.begin(), encoded.end());

  model::KVCache cache(c, ctx, weights.token_embedding.device());
  const WindowLogits forward = [&](std::span<const int32_t> window) {
    return model::forward(weights, window, 0, cache, model::Logits::All, options.hook);
  };
  WindowScoring how{.ctx = ctx,
                    .max_windows = options.max_windows,
                    .progress = options.progress,
                    .source = text_file.native()};
  model::KVCache base_cache;
  if (base) {
    base_cache = model::KVCache(base->config, ctx, base->token_embedding.device());
    how.base = [&](std::span<const int32_t> window) {
      return model::forward(*base, window, 0, base_cache, model::Logits::All);
    };
  }
  return perplexity(tokens, forward, how);
}

}  // namespace bitfold::eval
