#pragma once
// Text generation: prefill the prompt in one batch, then decode one token at a time until
// enough tokens, an end-of-sequence token or the model's context; text is streamed as it forms.
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/sampler.h"
#include "model/llama.h"
#include "text/tokenizer.h"

namespace bitfold::engine {

struct GenerateOptions {
  int max_new_tokens = 256;
  SamplerOptions sampler;
  bool stop_at_eos = true;
  std::vector<int32_t> eos_ids;  // empty: the model config's eos_ids
  model::ActivationHook hook;  // passed to every forward (fake-quant generation)
};

enum class StopReason : uint8_t { Length, Eos, Context };

struct GenerateStats {
  int prompt_tokens = 0;
  int generated_tokens = 0;  // including a final EOS
  int decode_steps = 0;      // forward calls of one token
  double prefill_seconds = 0;  // forward of the prompt (logits of its last token included)
  double decode_seconds = 0;   // the decode forwards and their sampling
  double prefill_tokens_per_second() const;
  double decode_tokens_per_second() const;
};

struct Generation {
  std::vector<int32_t> prompt;  // as fed to the model: BOS first
  std::vector<int32_t> tokens;  // generated ids
  std::string text;             // generated text (the prompt not repeated)
  StopReason stop = StopReason::Length;
  GenerateStats stats;
};

// Called with each new piece of text, only ever whole UTF-8 characters.
using TextCallback = std::function<void(std::string_view piece)>;
// Called with each generated id.
using TokenCallback = std::function<void(int32_t id)>;

// Generates from a prompt of ids (BOS included when wanted). A prompt that leaves no room in the
// model's context (max_seq_len) is a bitfold::Error; generation that reaches it stops with
// StopReason::Context.
Generation generate(const model::LlamaWeights& weights, std::span<const int32_t> prompt,
                    const GenerateOptions& options, const TokenCallback& on_token = {});

// Encodes `prompt` after one BOS, generates, and streams the new text to `on_text`.
Generation generate(const model::LlamaWeights& weights, const text::Tokenizer& tokenizer,
                    std::string_view prompt, const GenerateOptions& options,
                    const TextCallback& on_text = {});

// Incremental detokenization: the text that the ids pushed so far add to the text of the context
// ids given at construction, released only in whole UTF-8 characters (byte-fallback tokens build
// one character from several ids).
class TextStream {
 public:
  TextStream(const text::Tokenizer& tokenizer, std::span<const int32_t> context);
  std::string push(int32_t id);  // new complete text, possibly empty
  std::string finish();          // whatever is still held back (an incomplete character)

 private:
  std::string pending_text() const;

  const text::Tokenizer& tokenizer_;
  std::vector<int32_t> ids_;
  size_t anchor_;  // ids before it are fully released; ids_[anchor_ - 1] gives the context
};

}  // namespace bitfold::engine
