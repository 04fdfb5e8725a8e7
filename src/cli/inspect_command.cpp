// bitfold inspect MODEL [--calib FILE] [--method M ...] [--svg OUT.svg] [--md OUT.md]: the
// per-channel ranges of every linear input (activations over a calibration text, or without one
// the consumers' weight columns), before and after a method's transforms, as a markdown table
// and an SVG plot (methods/range_report.h).
#include <fmt/format.h>

#include <optional>

#include "calib/calibration_set.h"
#include "cli/commands.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/parallel.h"
#include "methods/pipeline.h"
#include "methods/range_report.h"
#include "model/loader.h"
#include "model/quantized_checkpoint.h"
#include "quant/recipe.h"
#include "text/tokenizer.h"

namespace bitfold::cli {

namespace {

struct InspectArgs {
  std::string model, calib, tokenizer, svg, md, method, what;
  quant::RecipeFlags flags{.method = "rtn", .weights = "4", .activations = "4"};
  std::vector<std::string> params;
  int samples = 32, length = 512;
  uint64_t seed = 0;
  int threads = 0;
};

quant::Recipe inspect_recipe(const InspectArgs& a) {
  quant::RecipeFlags f = a.flags;
  f.method = a.method;
  quant::Recipe r = quant::recipe_from_flags(f);
  for (const std::string& p : a.params) {
    const size_t eq = p.find('=');
    if (eq == std::string::npos || eq == 0) fail("--param {}: expected KEY=VALUE", p);
    nlohmann::json value = nlohmann::json::parse(p.substr(eq + 1), nullptr, false);
    if (value.is_discarded()) value = p.substr(eq + 1);
    r.hyperparameters[p.substr(0, eq)] = value;
  }
  return r;
}

void run_inspect(const InspectArgs& a) {
  set_num_threads(a.threads);
  const std::string what = a.what.empty() ? (a.calib.empty() ? "weights" : "activations") : a.what;
  if (what != "activations" && what != "weights")
    fail("--what {}: expected activations or weights", what);
  if ((what == "activations" || !a.method.empty()) && a.calib.empty())
    fail("--calib FILE is needed to {}", a.method.empty() ? "observe activations"
                                                          : "calibrate a method's transforms");
  // Open outputs first: a bad path fails before the work.
  std::optional<AtomicFile> svg_out, md_out;
  if (!a.svg.empty()) svg_out.emplace(a.svg);
  if (!a.md.empty()) md_out.emplace(a.md);
  if (model::is_quantized_checkpoint(a.model))
    fail("{}: is a quantized checkpoint; inspect the FP model it came from (with --method)", a.model);
  const model::LlamaWeights weights = model::load_weights(a.model);

  std::optional<calib::CalibrationSet> set;
  if (!a.calib.empty()) {
    const auto tokenizer = text::find_tokenizer(a.model, a.tokenizer);
    set = calib::load_calibration_set(a.calib, *tokenizer, weights.config,
                                      {.samples = a.samples, .length = a.length, .seed = a.seed});
  }
  const auto ranges = [&](const model::LlamaWeights& w) {
    return what == "weights" ? methods::weight_column_ranges(w) : methods::observe_ranges(w, *set);
  };
  const methods::ModelRanges before = ranges(weights);
  std::optional<methods::ModelRanges> after;
  std::string title = fmt::format("{}: {} ranges", a.model, what);
  if (!a.method.empty()) {
    const quant::Recipe recipe = inspect_recipe(a);
    methods::QuantizeOptions options;
    options.transform_only = true;
    options.measure_errors = false;
    const methods::QuantizedModel t = methods::quantize_model(weights, recipe, *set, options);
    after = ranges(t.weights);
    title += fmt::format(", before / after {} (W{} A{} {})", a.method, a.flags.weights,
                         a.flags.activations, a.flags.act);
  }
  const std::string table = methods::range_table(before, after ? &*after : nullptr);
  fmt::print("{}\n\n{}", title, table);
  if (md_out) {
    md_out->stream() << fmt::format("# {}\n\n{}", title, table);
    md_out->commit();
  }
  if (svg_out) {
    svg_out->stream() << methods::range_svg(before, after ? &*after : nullptr, title);
    svg_out->commit();
    fmt::print("\nwrote {}\n", a.svg);
  }
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  auto args = std::make_shared<InspectArgs>();
  auto* cmd = app.add_subcommand(
      "inspect", "Per-channel ranges of every linear input, before/after a method's transforms");
  cmd->add_option("model", args->model, "llama2.c .bin file or Hugging Face directory")->required();
  cmd->add_option("--calib", args->calib, "Calibration text: activations are observed on it");
  cmd->add_option("--what", args->what,
                  "activations (default with --calib) | weights (the consumers' weight columns)");
  cmd->add_option("--method", args->method,
                  "Apply this method's transforms (osplus | outliertune | mergequant | smoothquant)");
  cmd->add_option("--w", args->flags.weights, "Weight bits or format the method prepares for")
      ->capture_default_str();
  cmd->add_option("--a", args->flags.activations, "Activation bits or format")->capture_default_str();
  cmd->add_option("--act", args->flags.act, "Activation granularity")->capture_default_str();
  cmd->add_option("--param", args->params, "Method hyperparameter KEY=VALUE, repeatable");
  cmd->add_option("--calib-samples", args->samples, "Calibration windows")->capture_default_str();
  cmd->add_option("--calib-len", args->length, "Calibration window length")->capture_default_str();
  cmd->add_option("--seed", args->seed, "Calibration sampling seed")->capture_default_str();
  cmd->add_option("--tokenizer", args->tokenizer, "Tokenizer file (default: beside MODEL)");
  cmd->add_option("--svg", args->svg, "Write the plot here");
  cmd->add_option("--md", args->md, "Write the table here (markdown)");
  cmd->add_option("--threads", args->threads, "CPU threads (default: all)");
  cmd->callback([args] { run_inspect(*args); });
}

}  // namespace bitfold::cli
