// bitfold generate MODEL -p "..." : text from the F32 reference model, streamed as it forms.
#include <fmt/format.h>

#include <cstdio>
#include <random>

#include "cli/commands.h"
#include "cli/device_option.h"
#include "core/parallel.h"
#include "engine/generate.h"
#include "model/loader.h"
#include "model/to_device.h"
#include "text/tokenizer.h"

namespace bitfold::cli {

namespace {

struct GenerateArgs {
  std::string model, prompt, tokenizer;
  int n = 256;
  float temperature = 0.8f;
  int top_k = 0;
  float top_p = 0.9f;
  uint64_t seed = 0;
  bool seed_given = false;
  int threads = 0;
  std::string device = "cpu";
};

const char* stop_name(engine::StopReason r) {
  switch (r) {
    case engine::StopReason::Length: return "length";
    case engine::StopReason::Eos: return "end of sequence";
    case engine::StopReason::Context: return "model context full";
  }
  return "?";
}

void run_generate(const GenerateArgs& a) {
  set_num_threads(a.threads);
  const Device device = parse_device(a.device);
  const model::LlamaWeights weights = model::to_device(model::load_weights(a.model), device);
  const auto tokenizer = text::find_tokenizer(a.model, a.tokenizer);

  engine::GenerateOptions opts;
  opts.max_new_tokens = a.n;
  opts.sampler = {.temperature = a.temperature, .top_k = a.top_k, .top_p = a.top_p,
                  .seed = a.seed_given ? a.seed : std::random_device{}()};

  fmt::print("{}", a.prompt);
  std::fflush(stdout);
  const engine::Generation g =
      engine::generate(weights, *tokenizer, a.prompt, opts, [](std::string_view piece) {
        fmt::print("{}", piece);
        std::fflush(stdout);
      });
  fmt::print("\n");
  std::fflush(stdout);
  const engine::GenerateStats& s = g.stats;
  fmt::print(stderr,
             "prefill: {} tokens in {:.1f} ms, {:.1f} tokens/s | decode: {} tokens in {:.1f} ms, "
             "{:.1f} tokens/s | {}, seed {}, stop: {}\n",
             s.prompt_tokens, s.prefill_seconds * 1e3, s.prefill_tokens_per_second(),
             s.decode_steps, s.decode_seconds * 1e3, s.decode_tokens_per_second(),
             device == Device::CPU ? fmt::format("{} threads", num_threads()) : device_label(device),
             opts.sampler.seed, stop_name(g.stop));
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto args = std::make_shared<GenerateArgs>();
  auto* cmd = app.add_subcommand("generate", "Generate text with the F32 reference model");
  cmd->add_option("model", args->model, "llama2.c .bin file or Hugging Face directory")->required();
  cmd->add_option("-p,--prompt", args->prompt, "Prompt text (default: empty, BOS only)");
  cmd->add_option("-n,--tokens", args->n, "Number of tokens to generate")->capture_default_str();
  cmd->add_option("--temperature", args->temperature, "Sampling temperature; 0 = greedy")
      ->capture_default_str();
  cmd->add_option("--top-k", args->top_k, "Sample from the k most likely tokens; 0 = off")
      ->capture_default_str();
  cmd->add_option("--top-p", args->top_p, "Nucleus sampling mass; 1 = off")->capture_default_str();
  cmd->add_option("--seed", args->seed, "Random seed (default: a fresh one, printed at the end)")
      ->each([args](const std::string&) { args->seed_given = true; });
  cmd->add_option("--tokenizer", args->tokenizer,
                  "Tokenizer file (default: the one in or beside MODEL)");
  cmd->add_option("--threads", args->threads, "CPU threads (default: all)");
  add_device_option(cmd, args->device);
  cmd->callback([args] { run_generate(*args); });
}

}  // namespace bitfold::cli
