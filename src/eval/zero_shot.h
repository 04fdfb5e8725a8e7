#pragma once
// Zero-shot evaluation: a model scored on tasks of zero_shot_tasks.h with lm-evaluation-harness's
// metrics — acc (the choice of highest log-likelihood is the gold one), acc_norm (log-likelihood
// divided by the choice's length in code points), and for LAMBADA acc (the last word is the
// greedy continuation) and perplexity (exp of minus the mean per-item log-likelihood of the last
// word) — on all items, or on a reproducible random subset of them.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "eval/loglikelihood.h"
#include "eval/zero_shot_tasks.h"
#include "model/llama.h"
#include "text/tokenizer.h"

namespace bitfold::eval {

// `limit` distinct indices of [0, total), sorted, drawn by a partial Fisher–Yates shuffle driven
// by std::mt19937_64(seed) with rejection sampling — the same on every platform (unlike
// std::shuffle). limit ≤ 0 or ≥ total: all indices.
std::vector<int> pick_subset(int total, int limit, uint64_t seed);

// What one item's requests scored.
struct ItemScore {
  int index = 0;                     // in the task file
  int gold = 0;
  std::vector<TokenizedRequest> requests;
  std::vector<LoglikResult> results;
  int predicted = 0;                 // argmax of loglik (first on ties, as numpy)
  int predicted_norm = 0;            // argmax of loglik / code points of the choice
};

struct TaskResult {
  std::string name, harness_name;
  std::filesystem::path source;
  int items = 0;            // evaluated
  int total_items = 0;      // in the file
  int truncated_requests = 0;
  double acc = 0, acc_stderr = 0;  // stderr: sample standard deviation / sqrt(n), as the harness
  std::optional<double> acc_norm, acc_norm_stderr;
  std::optional<double> chance;    // accuracy of a uniform guess: mean of 1 / choices
  std::optional<double> ppl;       // LAMBADA: exp(−mean log-likelihood of the last word)
  int64_t requests = 0;
  int64_t forwarded_tokens = 0;    // tokens run through the model (shared prefills once)
  double seconds = 0;
};

struct ZeroShotOptions {
  int limit = 0;          // > 0: at most this many items per task, chosen by pick_subset
  uint64_t seed = 1234;
  bool add_bos = true;    // BOS before every context (harness ≥ 0.4.10 with Llama tokenizers)
  bool progress = true;   // progress bar on stderr when it is a terminal
  model::ActivationHook hook;  // passed to every forward (fake-quant evaluation)
  // Called with every scored item (request dumps, tests).
  std::function<void(const Task&, const ItemScore&)> on_item;
};

// Tokenizes the items `subset` of `task` for `weights`' context (errors name the task file and
// the item).
std::vector<std::vector<TokenizedRequest>> tokenize_items(const Task& task,
                                                          const std::vector<int>& subset,
                                                          const text::Tokenizer& tokenizer,
                                                          int bos, int max_len);

// Scores the subset of `task` that options.limit / seed pick.
TaskResult evaluate_task(const model::LlamaWeights& weights, const text::Tokenizer& tokenizer,
                         const Task& task, const ZeroShotOptions& options);

// The mean of acc over the multiple-choice tasks among `results` (LAMBADA excluded, as in the
// PTQ papers' averages) and the same mean of their chance levels; nullopt when there is none.
struct Average {
  double acc = 0, chance = 0;
  int tasks = 0;
};
std::optional<Average> multiple_choice_average(const std::vector<TaskResult>& results);

}  // namespace bitfold::eval
