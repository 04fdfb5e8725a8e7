// bitfold inspect MODEL [--calib FILE] [--method M --w 4 --a 4 --param K=V ...] [-o DIR]: the
// per-channel ranges of every linear input — activations over a calibration text, and the
// consumers' weight columns — before and after a method's transforms, as markdown tables on
// stdout and, with -o, DIR/ranges.md plus one hand-written SVG plot per kind
// (methods/range_report.h).
#include <fmt/format.h>

#include <filesystem>
#include <optional>
#include <set>

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

namespace fs = std::filesystem;

// The files an inspect report directory holds: -o may replace a directory of exactly these.
const std::set<std::string> kReportFiles = {"ranges.md", "activations.svg", "weights.svg"};

struct InspectArgs {
  std::string model, calib, tokenizer, out, method;
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
    if (eq == std::string::npos || eq == 0)
      fail("--param {}: expected KEY=VALUE (e.g. --param split_budget=0.05)", p);
    nlohmann::json value = nlohmann::json::parse(p.substr(eq + 1), nullptr, false);
    if (value.is_discarded()) value = p.substr(eq + 1);
    r.hyperparameters[p.substr(0, eq)] = value;
  }
  return r;
}

// -o DIR must be new, or an earlier report (replaced whole on success): never someone's folder.
void check_report_target(const fs::path& dir) {
  if (!fs::exists(dir)) {
    const fs::path parent = dir.has_parent_path() ? dir.parent_path() : fs::path(".");
    if (!fs::is_directory(parent)) fail("-o {}: folder {} does not exist", dir.string(), parent.string());
    return;
  }
  if (!fs::is_directory(dir)) fail("-o {}: exists and is not a folder", dir.string());
  for (const auto& e : fs::directory_iterator(dir))
    if (!kReportFiles.contains(e.path().filename().string()))
      fail("-o {}: holds {}, so it is not an inspect report; choose a new folder", dir.string(),
           e.path().filename().string());
}

void run_inspect(const InspectArgs& a) {
  set_num_threads(a.threads);
  if (!a.method.empty() && a.calib.empty())
    fail("--method {} needs --calib FILE: its transforms are calibrated", a.method);
  std::optional<quant::Recipe> recipe;
  if (!a.method.empty()) recipe = inspect_recipe(a);
  if (!a.out.empty()) check_report_target(a.out);
  if (model::is_quantized_checkpoint(a.model))
    fail("{}: is a quantized checkpoint; inspect the FP model it came from (with --method)", a.model);
  const model::LlamaWeights weights = model::load_weights(a.model);
  if (recipe) methods::check_recipe(weights, *recipe);

  std::optional<calib::CalibrationSet> set;
  if (!a.calib.empty()) {
    const auto tokenizer = text::find_tokenizer(a.model, a.tokenizer);
    set = calib::load_calibration_set(a.calib, *tokenizer, weights.config,
                                      {.samples = a.samples, .length = a.length, .seed = a.seed});
  }
  const methods::RangeInspection r =
      methods::inspect_ranges(weights, set ? &*set : nullptr, recipe ? &*recipe : nullptr);

  std::string title = fmt::format("{}: per-channel ranges of the linear inputs", a.model);
  if (set)
    title += fmt::format(" ({} windows x {} tokens of {}, seed {})", set->samples, set->length,
                         fs::path(set->source).filename().string(), set->seed);
  if (recipe)
    title += fmt::format(", before / after {} (W{} A{} {}{}{})", a.method, a.flags.weights,
                         a.flags.activations, a.flags.act, a.params.empty() ? "" : ", ",
                         fmt::join(a.params, ", "));
  const std::string markdown = methods::inspection_markdown(r, title);
  fmt::print("{}", markdown);
  if (a.out.empty()) return;

  AtomicDirectory dir(a.out);
  write_file_atomically(dir.path() / "ranges.md", markdown);
  write_file_atomically(dir.path() / "weights.svg",
                        methods::range_svg(r.weights_before, r.weights_after ? &*r.weights_after : nullptr,
                                           "weight columns: " + title));
  if (r.activations_before)
    write_file_atomically(
        dir.path() / "activations.svg",
        methods::range_svg(*r.activations_before, r.activations_after ? &*r.activations_after : nullptr,
                           "activations: " + title));
  dir.commit();
  fmt::print("\nwrote {}\n", a.out);
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  auto args = std::make_shared<InspectArgs>();
  auto* cmd = app.add_subcommand(
      "inspect", "Per-channel ranges of every linear input, before/after a method's transforms");
  cmd->add_option("model", args->model, "llama2.c .bin file or Hugging Face directory")->required();
  cmd->add_option("--calib", args->calib,
                  "Calibration text: activations are observed on it (without: weight columns only)");
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
  cmd->add_option("-o,--out", args->out,
                  "Write DIR/ranges.md, DIR/activations.svg and DIR/weights.svg (a new folder, "
                  "or an earlier report, replaced)");
  cmd->add_option("--threads", args->threads, "CPU threads (default: all)");
  cmd->callback([args] { run_inspect(*args); });
}

}  // namespace bitfold::cli
