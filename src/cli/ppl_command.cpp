// bitfold ppl MODEL --text FILE [--kl-base FP_MODEL] : perplexity (GPTQ convention), and the KL
// divergence of the model's next-token distributions from a base model's.
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <optional>

#include "cli/commands.h"
#include "cli/device_option.h"
#include "core/atomic_file.h"
#include "core/parallel.h"
#include "eval/perplexity.h"
#include "model/loader.h"
#include "model/to_device.h"
#include "text/tokenizer.h"

namespace bitfold::cli {

namespace {

struct PplArgs {
  std::string model, text, tokenizer, kl_base, json;
  int ctx = 0;
  int max_windows = 0;
  int threads = 0;
  std::string device = "cpu";
};

nlohmann::ordered_json result_json(const PplArgs& a, const eval::PerplexityResult& r) {
  nlohmann::ordered_json j = {{"model", a.model},
                              {"text", a.text},
                              {"ctx", r.ctx},
                              {"windows", r.windows},
                              {"total_windows", r.total_windows},
                              {"scored_tokens", r.scored_tokens},
                              {"file_tokens", r.file_tokens},
                              {"ppl", r.ppl},
                              {"mean_nll", r.mean_nll},
                              {"seconds", r.seconds},
                              {"tokens_per_second", r.tokens_per_second},
                              {"threads", num_threads()}};
  if (r.kl) {
    const eval::KlDivergence& kl = *r.kl;
    j["kl_base"] = a.kl_base;
    j["base_ppl"] = *r.base_ppl;
    j["kl"] = {{"tokens", kl.tokens},         {"mean", kl.mean},  {"mean_stderr", kl.mean_stderr},
               {"median", kl.median},         {"p99", kl.p99},    {"max", kl.max},
               {"top1_agreement", kl.top1_agreement}};
  }
  return j;
}

void run_ppl(const PplArgs& a) {
  set_num_threads(a.threads);
  const Device device = parse_device(a.device);
  std::optional<AtomicFile> json_out;  // opened first: a bad path fails before the long run
  if (!a.json.empty()) json_out.emplace(a.json);
  const model::LlamaWeights weights = model::to_device(model::load_weights(a.model), device);
  const auto tokenizer = text::find_tokenizer(a.model, a.tokenizer);
  std::optional<model::LlamaWeights> base;
  if (!a.kl_base.empty()) base = model::to_device(model::load_weights(a.kl_base), device);
  const eval::PerplexityResult r = eval::perplexity(
      weights, *tokenizer, a.text,
      {.ctx = a.ctx, .progress = true, .max_windows = a.max_windows,
       .kl_base = base ? &*base : nullptr});
  fmt::print("model: {}\ntext: {} ({} tokens with BOS)\n", a.model, a.text, r.file_tokens);
  fmt::print("ctx {}, {} windows, {} scored tokens{}\n", r.ctx, r.windows, r.scored_tokens,
             r.windows < r.total_windows
                 ? fmt::format(" ({} of {} windows, evenly spaced)", r.windows, r.total_windows)
                 : std::string());
  fmt::print("ppl {:.4f} (mean NLL {:.5f} nats/token)\n", r.ppl, r.mean_nll);
  if (r.kl) {
    const eval::KlDivergence& kl = *r.kl;
    fmt::print("KL divergence from {} (ppl {:.4f}): mean {:.5g} ± {:.2g}, median {:.5g}, "
               "p99 {:.5g}, max {:.5g} nats/token\n",
               a.kl_base, *r.base_ppl, kl.mean, kl.mean_stderr, kl.median, kl.p99, kl.max);
    fmt::print("top-1 agreement with {}: {:.3f}%\n", a.kl_base, 100 * kl.top1_agreement);
  }
  if (device == Device::CPU)
    fmt::print("{:.1f} tokens/s ({:.1f} s, {} threads)\n", r.tokens_per_second, r.seconds,
               num_threads());
  else
    fmt::print("{:.1f} tokens/s ({:.1f} s, {})\n", r.tokens_per_second, r.seconds,
               device_label(device));
  if (json_out) {
    nlohmann::ordered_json j = result_json(a, r);
    j["device"] = device_label(device);
    json_out->stream() << j.dump(2) << '\n';
    json_out->commit();
  }
}

}  // namespace

void add_ppl_command(CLI::App& app) {
  auto args = std::make_shared<PplArgs>();
  auto* cmd = app.add_subcommand(
      "ppl", "Perplexity of a model on a text file (whole file, one BOS, non-overlapping "
             "windows), and optionally its KL divergence from a base model");
  cmd->add_option("model", args->model, "llama2.c .bin file or Hugging Face directory")->required();
  cmd->add_option("--text", args->text, "Text file")->required();
  cmd->add_option("--ctx", args->ctx, "Window length (default: the model's context, at most 2048)");
  cmd->add_option("--max-windows", args->max_windows,
                  "Score at most N windows, evenly spaced over the file (default: all)");
  cmd->add_option("--kl-base", args->kl_base,
                  "Also report KL(P_base || P_model) per token against this model (e.g. the FP "
                  "original), its 99th percentile and the top-1 agreement");
  cmd->add_option("--json", args->json, "Also write the results as JSON to this file");
  cmd->add_option("--tokenizer", args->tokenizer,
                  "Tokenizer file (default: the one in or beside MODEL)");
  cmd->add_option("--threads", args->threads, "CPU threads (default: all)");
  add_device_option(cmd, args->device);
  cmd->callback([args] { run_ppl(*args); });
}

}  // namespace bitfold::cli
