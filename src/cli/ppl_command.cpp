// bitfold ppl MODEL --text FILE : perplexity of the F32 reference model (GPTQ convention).
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/device_option.h"
#include "core/parallel.h"
#include "eval/perplexity.h"
#include "model/loader.h"
#include "model/to_device.h"
#include "text/tokenizer.h"

namespace bitfold::cli {

namespace {

struct PplArgs {
  std::string model, text, tokenizer;
  int ctx = 0;
  int threads = 0;
  std::string device = "cpu";
};

void run_ppl(const PplArgs& a) {
  set_num_threads(a.threads);
  const Device device = parse_device(a.device);
  const model::LlamaWeights weights = model::to_device(model::load_weights(a.model), device);
  const auto tokenizer = text::find_tokenizer(a.model, a.tokenizer);
  const eval::PerplexityResult r =
      eval::perplexity(weights, *tokenizer, a.text, {.ctx = a.ctx, .progress = true});
  fmt::print("model: {}\ntext: {} ({} tokens with BOS)\n", a.model, a.text, r.file_tokens);
  fmt::print("ctx {}, {} windows, {} scored tokens\n", r.ctx, r.windows, r.scored_tokens);
  fmt::print("ppl {:.4f} (mean NLL {:.5f} nats/token)\n", r.ppl, r.mean_nll);
  if (device == Device::CPU)
    fmt::print("{:.1f} tokens/s ({:.1f} s, {} threads)\n", r.tokens_per_second, r.seconds,
               num_threads());
  else
    fmt::print("{:.1f} tokens/s ({:.1f} s, {})\n", r.tokens_per_second, r.seconds,
               device_label(device));
}

}  // namespace

void add_ppl_command(CLI::App& app) {
  auto args = std::make_shared<PplArgs>();
  auto* cmd = app.add_subcommand(
      "ppl", "Perplexity of the F32 reference model on a text file (whole file, one BOS, "
             "non-overlapping windows)");
  cmd->add_option("model", args->model, "llama2.c .bin file or Hugging Face directory")->required();
  cmd->add_option("--text", args->text, "Text file")->required();
  cmd->add_option("--ctx", args->ctx, "Window length (default: the model's context, at most 2048)");
  cmd->add_option("--tokenizer", args->tokenizer,
                  "Tokenizer file (default: the one in or beside MODEL)");
  cmd->add_option("--threads", args->threads, "CPU threads (default: all)");
  add_device_option(cmd, args->device);
  cmd->callback([args] { run_ppl(*args); });
}

}  // namespace bitfold::cli
