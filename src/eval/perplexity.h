#pragma once
// Perplexity, the GPTQ convention (also llama.cpp's and most PTQ papers'): the whole file encoded
// as one string after a single BOS, cut into non-overlapping windows of `ctx` tokens (the tail
// that does not fill a window is dropped); in each window every token but the first is scored
// given the tokens before it in that window; ppl = exp(mean NLL), accumulated in double.
// Optionally (a base model given) also the KL divergence of the model's next-token distributions
// from the base model's at every scored position (eval/kl_divergence.h), as llama.cpp reports it.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string_view>

#include "core/tensor.h"
#include "eval/kl_divergence.h"
#include "model/llama.h"
#include "text/tokenizer.h"

namespace bitfold::eval {

struct PerplexityOptions {
  int ctx = 0;             // window length; 0: the model's max_seq_len capped at 2048
  bool progress = true;    // progress bar with ETA on stderr, when stderr is a terminal
  model::ActivationHook hook;  // passed to every forward (fake-quant evaluation)
  int max_windows = 0;     // > 0: score only this many windows, evenly spaced over the file
  // When set: also KL(P_base ‖ P_model) per scored token, the base model running unhooked on the
  // same windows. It must share the model's vocabulary (and so its tokenizer).
  const model::LlamaWeights* kl_base = nullptr;
};

struct PerplexityResult {
  double ppl = 0;
  double mean_nll = 0;          // nats per scored token
  int ctx = 0;
  int windows = 0;              // windows scored
  int total_windows = 0;        // whole windows in the file (more than `windows` with max_windows)
  int64_t scored_tokens = 0;    // windows · (ctx − 1)
  int64_t file_tokens = 0;      // tokens of the whole file, BOS included
  double seconds = 0;
  double tokens_per_second = 0; // tokens run through the model (windows · ctx) per second
  // With a base model: its perplexity on the same tokens, and the KL statistics.
  std::optional<double> base_ppl;
  std::optional<KlDivergence> kl;
};

// Logits [ctx, vocab] (on any device) of one window of token ids: lets quantized models with a
// forward of their own be scored by the same code.
using WindowLogits = std::function<Tensor(std::span<const int32_t> window)>;

// The default window length for a model: max_seq_len capped at 2048.
int default_ctx(const model::ModelConfig& config);

// How `perplexity` walks the token stream.
struct WindowScoring {
  int ctx = 0;
  int max_windows = 0;   // > 0: only this many windows, w_i = floor(i · total / max_windows)
  bool progress = true;
  std::string_view source = "the text";  // named in errors
  WindowLogits base;     // when set: KL of `logits`' distributions from these
};

// Scores `tokens` (BOS already in front) in windows of `ctx`. Errors: ctx < 2, fewer tokens than
// one window (naming `source` in the message), max_windows < 0.
PerplexityResult perplexity(std::span<const int32_t> tokens, const WindowLogits& logits,
                            const WindowScoring& how);
PerplexityResult perplexity(std::span<const int32_t> tokens, int ctx, const WindowLogits& logits,
                            bool progress = true, std::string_view source = "the text");

// Reads and encodes `text_file`, then scores it with the F32 forward of `weights`. Errors: an
// empty file, text shorter than one window, ctx larger than the model's (or the KL base's)
// max_seq_len, ctx < 2, a KL base with another vocabulary size.
PerplexityResult perplexity(const model::LlamaWeights& weights, const text::Tokenizer& tokenizer,
                            const std::filesystem::path& text_file,
                            const PerplexityOptions& options = {});

}  // namespace bitfold::eval
