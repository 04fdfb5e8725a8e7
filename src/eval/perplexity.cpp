#include "eval/perplexity.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fmt/format.h>

#include "core/error.h"
#include "core/mapped_file.h"
#include "ops/ops.h"

namespace bitfold::eval {

namespace {

using Clock = std::chrono::steady_clock;

// One line on stderr, redrawn in place: "ppl [#####.....] 12/40 windows  ppl 27.31  ETA 0:42".
class ProgressBar {
 public:
  ProgressBar(int total, bool enabled) : total_(total), enabled_(enabled && isatty(2)) {}
  ~ProgressBar() {
    if (drawn_) std::fputs("\r\033[K", stderr);  // leave stdout's report on a clean line
  }
  void update(int done, double running_ppl, double elapsed) {
    if (!enabled_) return;
    constexpr int width = 30;
    const int filled = total_ > 0 ? done * width / total_ : width;
    const double eta = done > 0 ? elapsed / done * (total_ - done) : 0.0;
    const int eta_s = int(std::lround(eta));
    fmt::print(stderr, "\rppl [{:#<{}}{:.<{}}] {}/{} windows  ppl {:.4f}  ETA {}:{:02}", "", filled,
               "", width - filled, done, total_, running_ppl, eta_s / 60, eta_s % 60);
    std::fflush(stderr);
    drawn_ = true;
  }

 private:
  int total_;
  bool enabled_;
  bool drawn_ = false;
};

}  // namespace

int default_ctx(const model::ModelConfig& config) { return std::min(config.max_seq_len, 2048); }

PerplexityResult perplexity(std::span<const int32_t> tokens, int ctx, const WindowLogits& logits,
                            bool progress, std::string_view source) {
  if (ctx < 2) fail("perplexity: the window must be at least 2 tokens, got {}", ctx);
  const int64_t n = int64_t(tokens.size());
  if (n < ctx)
    fail("{}: {} tokens, fewer than one window of {} (use a longer text or a smaller --ctx)",
         source, n, ctx);

  PerplexityResult r;
  r.ctx = ctx;
  r.windows = int(n / ctx);
  r.file_tokens = n;
  ProgressBar bar(r.windows, progress);
  const auto start = Clock::now();
  double nll_sum = 0.0;
  for (int w = 0; w < r.windows; ++w) {
    const std::span<const int32_t> window = tokens.subspan(size_t(w) * size_t(ctx), size_t(ctx));
    const Tensor out = logits(window);
    BITFOLD_CHECK(out.rank() == 2 && out.dim(0) == ctx, "window logits {} for a window of {}",
                  shape_str(out.shape()), ctx);
    // Position i predicts token i + 1: rows 0..ctx−2 against targets 1..ctx−1.
    const std::vector<double> nll =
        ops::token_nll(out.slice_rows(0, ctx - 1), window.subspan(1));
    for (double e : nll) nll_sum += e;
    r.scored_tokens += ctx - 1;
    bar.update(w + 1, std::exp(nll_sum / double(r.scored_tokens)),
               std::chrono::duration<double>(Clock::now() - start).count());
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.mean_nll = nll_sum / double(r.scored_tokens);
  r.ppl = std::exp(r.mean_nll);
  r.tokens_per_second = r.seconds > 0 ? double(r.windows) * ctx / r.seconds : 0.0;
  return r;
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
  return perplexity(tokens, ctx, forward, options.progress, text_file.string());
}

}  // namespace bitfold::eval
