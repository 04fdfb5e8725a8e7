// bitfold quantize MODEL --method rtn --w 8 --a 8 --act static-channel --calib FILE -o OUT:
// calibrate, transform and quantize a model, print a per-layer summary, write a quantized
// checkpoint (docs/format.md) that `bitfold ppl` and `bitfold generate` load.
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdio>

#include "calib/calibration_set.h"
#include "cli/commands.h"
#include "cli/device_option.h"
#include "core/error.h"
#include "core/parallel.h"
#include "methods/pipeline.h"
#include "model/loader.h"
#include "model/quantized_checkpoint.h"
#include "quant/recipe.h"
#include "text/tokenizer.h"

namespace bitfold::cli {

namespace {

struct QuantizeArgs {
  std::string model, recipe, calib, out, tokenizer;
  quant::RecipeFlags flags{.method = "rtn", .weights = "8", .activations = "8"};
  std::vector<std::string> flags_given;  // recipe flags the user typed (overridden by --recipe)
  double alpha = 0.5;
  bool alpha_given = false;
  std::vector<std::string> params;  // --param KEY=VALUE: method hyperparameters
  int samples = 128, length = 2048;
  uint64_t seed = 0;
  int threads = 0;
  bool progress = true;
  std::string device = "cpu";
};

quant::Recipe build_recipe(const QuantizeArgs& a) {
  if (!a.recipe.empty()) {
    if (!a.flags_given.empty())
      fmt::print(stderr, "bitfold: note: {} ignored: the recipe file {} decides\n",
                 fmt::join(a.flags_given, ", "), a.recipe);
    return quant::load_recipe(a.recipe);
  }
  quant::Recipe r = quant::recipe_from_flags(a.flags);
  if (a.alpha_given) r.hyperparameters["alpha"] = a.alpha;
  for (const std::string& p : a.params) {
    const size_t eq = p.find('=');
    if (eq == std::string::npos || eq == 0)
      fail("--param {}: expected KEY=VALUE (e.g. --param variant=static)", p);
    const std::string key = p.substr(0, eq), text = p.substr(eq + 1);
    // A JSON value (numbers, true/false, arrays), else the text as a string.
    nlohmann::json value = nlohmann::json::parse(text, nullptr, false);
    if (value.is_discarded()) value = text;
    r.hyperparameters[key] = value;
  }
  return r;
}

std::string number(double v) {
  if (v < 0) return "-";
  if (v == 0) return "0";
  return fmt::format("{:.3g}", v);
}

std::string range(const calib::RangeSummary& r) {
  if (r.max == 0) return "-";
  return fmt::format("{:.3g} (x{:.3g})", r.max, r.max_over_median);
}

void print_summary(const methods::QuantizedModel& q) {
  const methods::QuantizeReport& r = q.report;
  fmt::print("\n| layer | weights | activations | max abs x (max/median) before | after | "
             "output rel. MSE |\n|---|---|---|---|---|---|\n");
  size_t next_block = 0;
  for (const methods::LinearReport& l : r.linears) {
    fmt::print("| {} | {} | {} | {} | {} | {}{} |\n", l.name, l.weights, l.activations,
               range(l.before), range(l.after), number(l.output_rel_mse),
               l.exact_float32 ? "" : " (f64)");
    // After a block's down_proj: its output error against the FP model.
    if (l.name.ends_with("mlp.down_proj") && next_block < r.blocks.size()) {
      const methods::BlockReport& b = r.blocks[next_block++];
      fmt::print("| model.layers.{} output (vs FP stream) | | | | | {} |\n", b.layer,
                 number(b.output_rel_mse));
    }
  }
  const nlohmann::json& c = q.calibration;
  fmt::print("\nmethod {}, calibration {} windows x {} tokens from {} (seed {}), {:.1f} s\n",
             quant::method_name(q.recipe.method), c["samples"].get<int>(),
             c["length"].get<int>(), c["source"].get<std::string>(), c["seed"].get<uint64_t>(),
             r.seconds);
}

void run_quantize(const QuantizeArgs& a) {
  const auto start = std::chrono::steady_clock::now();
  set_num_threads(a.threads);
  const Device device = parse_device(a.device);
  const quant::Recipe recipe = build_recipe(a);
  model::check_checkpoint_target(a.out);
  if (model::is_quantized_checkpoint(a.model))
    fail("{}: is already a quantized checkpoint; quantize the FP model it came from", a.model);
  model::LlamaWeights weights = model::load_weights(a.model);
  methods::check_recipe(weights, recipe);
  const auto tokenizer = text::find_tokenizer(a.model, a.tokenizer);
  const std::filesystem::path tokenizer_file = text::find_tokenizer_file(a.model, a.tokenizer);
  const calib::CalibrationSet set = calib::load_calibration_set(
      a.calib, *tokenizer, weights.config, {.samples = a.samples, .length = a.length, .seed = a.seed});
  fmt::print("calibration: {} windows x {} tokens from {} ({} tokens, seed {}{})\n", set.samples,
             set.length, set.source, set.text_tokens, set.seed,
             set.samples != set.requested_samples || set.length != set.requested_length
                 ? fmt::format("; asked for {} x {}, scaled down to fit the model and text",
                               set.requested_samples, set.requested_length)
                 : "");
  std::fflush(stdout);

  const nlohmann::json source = model::source_model_info(a.model);
  methods::QuantizeOptions options;
  options.progress = a.progress;
  options.device = device;
  const methods::QuantizedModel q = methods::quantize_model(std::move(weights), recipe, set, options);
  print_summary(q);

  model::QuantizedCheckpointInfo info;
  info.recipe = quant::recipe_to_json(recipe);
  info.calibration = q.calibration;
  info.source_model = source;
  model::write_quantized_checkpoint(q.weights, a.out, info, tokenizer_file);
  fmt::print("wrote {} ({:.1f} s in all, {} threads{})\n", a.out,
             std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
             num_threads(),
             device == Device::CPU ? "" : fmt::format(", forwards on {}", device_label(device)));
}

}  // namespace

void add_quantize_command(CLI::App& app) {
  auto args = std::make_shared<QuantizeArgs>();
  auto* cmd = app.add_subcommand(
      "quantize", "Calibrate and quantize a model; write a quantized checkpoint (docs/format.md)");
  cmd->add_option("model", args->model, "llama2.c .bin file or Hugging Face directory")->required();
  cmd->add_option("-o,--out", args->out, "Output directory (the quantized checkpoint)")->required();
  cmd->add_option("--calib", args->calib, "Calibration text file")->required();
  const auto flag = [&](const std::string& name, std::string& target, const std::string& help) {
    cmd->add_option(name, target, help)
        ->capture_default_str()
        ->each([args, name](const std::string&) { args->flags_given.push_back(name); });
  };
  flag("--method", args->flags.method,
       "Method: rtn | smoothquant | osplus | outliertune | mergequant (outliertune's default "
       "variant, faithful, quantizes o_proj / down_proj inputs per token as its released code; "
       "--param variant=static keeps every step static)");
  flag("--w", args->flags.weights, "Weight bits (2..8, 16 = not quantized) or a format (uint4, e2m1 ...)");
  flag("--a", args->flags.activations, "Activation bits or format (16 = not quantized)");
  flag("--act", args->flags.act,
       "Activation granularity: static-channel | static-tensor | dynamic-token | dynamic-tensor");
  flag("--kv", args->flags.kv, "KV-cache bits or format (static per head; 16 = not quantized)");
  cmd->add_option("--group", args->flags.group, "Weight group size along K (default: per output channel)")
      ->each([args](const std::string&) { args->flags_given.push_back("--group"); });
  cmd->add_option("--w-clip", args->flags.weight_clip, "Weight clip ratio in (0, 1]")
      ->capture_default_str()
      ->each([args](const std::string&) { args->flags_given.push_back("--w-clip"); });
  cmd->add_option("--a-clip", args->flags.activation_clip, "Activation clip ratio in (0, 1]")
      ->capture_default_str()
      ->each([args](const std::string&) { args->flags_given.push_back("--a-clip"); });
  cmd->add_option("--alpha", args->alpha, "SmoothQuant migration strength in [0, 1] (default 0.5)")
      ->each([args](const std::string&) {
        args->alpha_given = true;
        args->flags_given.push_back("--alpha");
      });
  cmd->add_option("--param", args->params,
                  "Method hyperparameter KEY=VALUE, repeatable (docs/methods.md), e.g. "
                  "--param variant=static")
      ->each([args](const std::string&) { args->flags_given.push_back("--param"); });
  cmd->add_option("--recipe", args->recipe, "Recipe JSON (docs/quant-formats.md §4); overrides the format flags");
  cmd->add_option("--calib-samples", args->samples, "Calibration windows N (scaled down to fit)")
      ->capture_default_str();
  cmd->add_option("--calib-len", args->length, "Calibration window length L (at most the model's context)")
      ->capture_default_str();
  cmd->add_option("--seed", args->seed, "Seed of the calibration sampling")->capture_default_str();
  cmd->add_option("--tokenizer", args->tokenizer, "Tokenizer file (default: the one in or beside MODEL)");
  cmd->add_option("--threads", args->threads, "CPU threads (default: all)");
  cmd->add_flag("!--no-progress", args->progress, "No progress bar");
  add_device_option(cmd, args->device);
  cmd->callback([args] { run_quantize(*args); });
}

}  // namespace bitfold::cli
