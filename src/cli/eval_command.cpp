// bitfold eval MODEL --tasks hellaswag,piqa,... : zero-shot accuracy, lm-evaluation-harness style.
#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>

#include "cli/commands.h"
#include "cli/device_option.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/parallel.h"
#include "eval/zero_shot_report.h"
#include "model/loader.h"
#include "model/to_device.h"
#include "text/tokenizer.h"

namespace bitfold::cli {

namespace {

namespace fs = std::filesystem;

struct EvalArgs {
  std::string model, tasks, data, json, tokenizer, dump_requests;
  int limit = 0;
  uint64_t seed = 1234;
  bool no_bos = false;
  int threads = 0;
  std::string device = "cpu";
};

// --data, else $BITFOLD_SHARED_DATA/tasks, else ../shared/data/tasks beside the source tree.
fs::path task_data_dir(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("BITFOLD_SHARED_DATA")) return fs::path(env) / "tasks";
  return fs::path(BITFOLD_DEFAULT_SHARED_DATA) / "tasks";
}

void run_eval(const EvalArgs& a) {
  set_num_threads(a.threads);
  const Device device = parse_device(a.device);
  if (a.limit < 0) fail("--limit must be positive, got {}", a.limit);
  const std::vector<std::string> names = eval::parse_task_list(a.tasks);
  const fs::path data = task_data_dir(a.data);
  if (!fs::is_directory(data))
    fail("{}: no task data directory here (pass --data DIR or set BITFOLD_SHARED_DATA)",
         data.string());

  // Everything a user can get wrong is checked before the long part starts.
  std::vector<eval::Task> tasks;
  for (const std::string& name : names) tasks.push_back(eval::load_task(name, data));
  const model::LlamaWeights weights = model::to_device(model::load_weights(a.model), device);
  const fs::path tokenizer_path = text::find_tokenizer_file(a.model, a.tokenizer);
  const auto tokenizer = text::find_tokenizer(a.model, a.tokenizer);
  std::optional<AtomicFile> dump, json_out;  // opened now: a bad path fails before the long run
  if (!a.dump_requests.empty()) dump.emplace(a.dump_requests);
  if (!a.json.empty()) json_out.emplace(a.json);

  eval::ZeroShotOptions options;
  options.limit = a.limit;
  options.seed = a.seed;
  options.add_bos = !a.no_bos;
  if (dump)
    options.on_item = [&](const eval::Task& task, const eval::ItemScore& score) {
      for (const std::string& line : eval::request_dump_lines(task, score))
        dump->stream() << line << '\n';
    };

  const auto start = std::chrono::steady_clock::now();
  std::vector<eval::TaskResult> results;
  for (const eval::Task& task : tasks)
    results.push_back(eval::evaluate_task(weights, *tokenizer, task, options));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  int64_t forwarded = 0;
  for (const eval::TaskResult& r : results) forwarded += r.forwarded_tokens;

  fmt::print("model: {} (tokenizer {}), BOS {}, data {}\n", a.model, tokenizer_path.string(),
             a.no_bos ? "off" : "on", data.string());
  fmt::print("{}, seed {}\n\n",
             a.limit > 0 ? fmt::format("at most {} items per task", a.limit) : "all items",
             a.seed);
  fmt::print("{}\n", eval::zero_shot_table(results));
  fmt::print("{} tokens forwarded in {:.1f} s ({:.0f} tokens/s, {})\n", forwarded, seconds,
             seconds > 0 ? double(forwarded) / seconds : 0.0,
             device == Device::CPU ? fmt::format("{} threads", num_threads()) : device_label(device));

  if (dump) dump->commit();
  if (json_out) {
    nlohmann::ordered_json j = {{"model", a.model},
                                {"tokenizer", tokenizer_path.string()},
                                {"bos", !a.no_bos},
                                {"data", data.string()},
                                {"limit", a.limit},
                                {"seed", a.seed},
                                {"threads", num_threads()},
                                {"device", device_label(device)},
                                {"seconds", seconds},
                                {"forwarded_tokens", forwarded}};
    j.update(eval::zero_shot_json(results));
    json_out->stream() << j.dump(2) << '\n';
    json_out->commit();
  }
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto args = std::make_shared<EvalArgs>();
  auto* cmd = app.add_subcommand(
      "eval", "Zero-shot accuracy on hellaswag, piqa, arc_easy, arc_challenge, winogrande, boolq, "
              "lambada, scored as EleutherAI's lm-evaluation-harness scores them");
  cmd->add_option("model", args->model, "llama2.c .bin file or Hugging Face directory")->required();
  cmd->add_option("--tasks", args->tasks, "Comma-separated task names, or all")->required();
  cmd->add_option("--limit", args->limit,
                  "At most N items per task, a random subset fixed by --seed (default: all)");
  cmd->add_option("--seed", args->seed, "Seed of the --limit subset")->capture_default_str();
  cmd->add_option("--data", args->data,
                  "Task data directory (default: $BITFOLD_SHARED_DATA/tasks, else "
                  "../shared/data/tasks beside the source tree)");
  cmd->add_option("--json", args->json, "Also write the results as JSON to this file");
  cmd->add_option("--dump-requests", args->dump_requests,
                  "Write every scored request (text, tokens, log-likelihood) as JSON lines");
  cmd->add_flag("--no-bos", args->no_bos,
                "No BOS before contexts (lm-eval-harness before v0.4.10 with Llama models)");
  cmd->add_option("--tokenizer", args->tokenizer,
                  "Tokenizer file (default: the one in or beside MODEL)");
  cmd->add_option("--threads", args->threads, "CPU threads (default: all)");
  add_device_option(cmd, args->device);
  cmd->callback([args] { run_eval(*args); });
}

}  // namespace bitfold::cli
