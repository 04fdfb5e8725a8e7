#include "eval/zero_shot.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>

#include "core/error.h"
#include "core/progress.h"
#include "eval/harness_text.h"

namespace bitfold::eval {

namespace {

// Uniform in [0, n) from a 64-bit engine, without modulo bias.
uint64_t uniform_below(std::mt19937_64& rng, uint64_t n) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = rng();
  while (x >= limit);
  return x % n;
}

// Index of the first maximum (numpy.argmax).
int first_argmax(const std::vector<double>& v) {
  return int(std::max_element(v.begin(), v.end()) - v.begin());  // max_element keeps the first
}

// Sample standard deviation / sqrt(n) of 0/1 outcomes (the harness's mean_stderr).
double mean_stderr(int64_t hits, int64_t n) {
  if (n < 2) return 0.0;
  const double mean = double(hits) / double(n);
  const double variance = (double(hits) * (1 - mean) * (1 - mean) +
                           double(n - hits) * mean * mean) / double(n - 1);
  return std::sqrt(variance / double(n));
}

}  // namespace

std::vector<int> pick_subset(int total, int limit, uint64_t seed) {
  std::vector<int> order(size_t(std::max(total, 0)));
  std::iota(order.begin(), order.end(), 0);
  if (limit <= 0 || limit >= total) return order;
  std::mt19937_64 rng(seed);
  for (int i = 0; i < limit; ++i) {
    const int j = i + int(uniform_below(rng, uint64_t(total - i)));
    std::swap(order[size_t(i)], order[size_t(j)]);
  }
  order.resize(size_t(limit));
  std::sort(order.begin(), order.end());
  return order;
}

std::vector<std::vector<TokenizedRequest>> tokenize_items(const Task& task,
                                                          const std::vector<int>& subset,
                                                          const text::Tokenizer& tokenizer,
                                                          int bos, int max_len) {
  std::vector<std::vector<TokenizedRequest>> out;
  out.reserve(subset.size());
  for (int index : subset) {
    const TaskItem& item = task.items.at(size_t(index));
    std::vector<TokenizedRequest> requests;
    for (size_t k = 0; k < item.requests.size(); ++k)
      requests.push_back(tokenize_request(
          tokenizer, item.requests[k], bos, max_len,
          fmt::format("{}: item {} (task {}), choice {}", task.source.string(), item.index,
                      task.name, k)));
    out.push_back(std::move(requests));
  }
  return out;
}

TaskResult evaluate_task(const model::LlamaWeights& weights, const text::Tokenizer& tokenizer,
                         const Task& task, const ZeroShotOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const model::ModelConfig& c = weights.config;
  const int bos = !options.add_bos ? -1 : tokenizer.bos_id() >= 0 ? tokenizer.bos_id() : c.bos_id;
  const std::vector<int> subset = pick_subset(int(task.items.size()), options.limit, options.seed);
  const auto tokenized = tokenize_items(task, subset, tokenizer, bos, c.max_seq_len);

  TaskResult r;
  r.name = task.name;
  r.harness_name = task.harness_name;
  r.source = task.source;
  r.items = int(subset.size());
  r.total_items = int(task.items.size());
  model::KVCache cache(c, c.max_seq_len, weights.token_embedding.device());
  ProgressBar bar(task.name + " (items)", r.items, options.progress);
  int64_t hits = 0, hits_norm = 0;
  double chance_sum = 0, loglik_sum = 0;
  for (size_t i = 0; i < subset.size(); ++i) {
    const TaskItem& item = task.items[size_t(subset[i])];
    ItemScore score;
    score.index = item.index;
    score.gold = item.gold;
    score.requests = tokenized[i];
    GroupScore group = score_requests(weights, cache, score.requests, options.hook);
    score.results = std::move(group.results);
    r.forwarded_tokens += group.forwarded_tokens;
    r.requests += int64_t(score.requests.size());
    for (const TokenizedRequest& t : score.requests) r.truncated_requests += t.truncated;

    std::vector<double> ll, ll_norm;
    for (size_t k = 0; k < score.results.size(); ++k) {
      ll.push_back(score.results[k].loglik);
      ll_norm.push_back(score.results[k].loglik / double(code_point_count(item.choices[k])));
    }
    score.predicted = first_argmax(ll);
    score.predicted_norm = first_argmax(ll_norm);
    if (task.scoring == TaskScoring::LastWord) {
      hits += score.results[0].greedy;
      loglik_sum += score.results[0].loglik;
    } else {
      hits += score.predicted == item.gold;
      hits_norm += score.predicted_norm == item.gold;
      chance_sum += 1.0 / double(item.requests.size());
    }
    if (options.on_item) options.on_item(task, score);
    bar.advance(1, fmt::format("acc {:.4f}", double(hits) / double(i + 1)));
  }

  const int64_t n = r.items;
  if (n > 0) {
    r.acc = double(hits) / double(n);
    r.acc_stderr = mean_stderr(hits, n);
    if (task.scoring == TaskScoring::LastWord) {
      r.ppl = std::exp(-loglik_sum / double(n));
    } else {
      r.chance = chance_sum / double(n);
      if (task.reports_acc_norm) {
        r.acc_norm = double(hits_norm) / double(n);
        r.acc_norm_stderr = mean_stderr(hits_norm, n);
      }
    }
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

std::optional<Average> multiple_choice_average(const std::vector<TaskResult>& results) {
  Average a;
  for (const TaskResult& r : results) {
    if (!r.chance) continue;  // LAMBADA has no choices
    a.acc += r.acc;
    a.chance += *r.chance;
    ++a.tasks;
  }
  if (a.tasks == 0) return std::nullopt;
  a.acc /= a.tasks;
  a.chance /= a.tasks;
  return a;
}

}  // namespace bitfold::eval
