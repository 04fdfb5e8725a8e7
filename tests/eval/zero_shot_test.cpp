// Zero-shot scoring of the hand-made tasks (tests/data/eval/tasks) on the tiny random checkpoint:
// metrics recomputed here from a naive full-recompute scorer; subset selection.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>

#include "eval/harness_text.h"
#include "eval/zero_shot.h"
#include "eval_fixtures.h"
#include "random_model.h"

namespace bitfold::eval {
namespace {

using testing::ByteTokenizer;

TEST(ZeroShot, PickSubsetIsReproducibleSortedAndDistinct) {
  const std::vector<int> a = pick_subset(1000, 50, 1234), b = pick_subset(1000, 50, 1234);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.size(), 50u);
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
  EXPECT_EQ(std::set<int>(a.begin(), a.end()).size(), 50u);
  EXPECT_GE(a.front(), 0);
  EXPECT_LT(a.back(), 1000);
  EXPECT_NE(a, pick_subset(1000, 50, 99));
  EXPECT_EQ(pick_subset(5, 0, 1), (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(pick_subset(5, 9, 1), (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(pick_subset(5, 5, 1), (std::vector<int>{0, 1, 2, 3, 4}));
  // Roughly uniform: over many seeds every index of 10 is drawn about 3/10 of the time.
  std::vector<int> hits(10);
  for (uint64_t seed = 0; seed < 2000; ++seed)
    for (int i : pick_subset(10, 3, seed)) ++hits[size_t(i)];
  for (int h : hits) EXPECT_NEAR(h / 2000.0, 0.3, 0.05);
}

// Every task of the fixture, scored by evaluate_task and by hand from naive log-likelihoods.
class ZeroShotFixture : public ::testing::TestWithParam<const char*> {};

TEST_P(ZeroShotFixture, MetricsEqualNaiveScoring) {
  const model::LlamaWeights& w = testing::tiny_gqa();
  const ByteTokenizer tok;
  const Task task = load_task(GetParam(), testing::repo_path("tests/data/eval/tasks"));
  std::vector<ItemScore> seen;
  ZeroShotOptions options;
  options.progress = false;
  options.on_item = [&](const Task&, const ItemScore& s) { seen.push_back(s); };
  const TaskResult r = evaluate_task(w, tok, task, options);

  const std::vector<int> all = pick_subset(int(task.items.size()), 0, 0);
  const auto tokenized = tokenize_items(task, all, tok, 1, w.config.max_seq_len);
  ASSERT_EQ(seen.size(), task.items.size());
  int hits = 0, hits_norm = 0, truncated = 0;
  double chance = 0, loglik_sum = 0;
  for (size_t i = 0; i < task.items.size(); ++i) {
    const TaskItem& item = task.items[i];
    std::vector<double> ll, norm;
    for (size_t k = 0; k < item.requests.size(); ++k) {
      const LoglikResult ref = testing::naive_loglik(w, tokenized[i][k]);
      EXPECT_NEAR(seen[i].results[k].loglik, ref.loglik, 1e-4 * (1 + std::abs(ref.loglik)));
      EXPECT_EQ(seen[i].results[k].greedy, ref.greedy);
      EXPECT_EQ(seen[i].requests[k].tokens, tokenized[i][k].tokens);
      truncated += tokenized[i][k].truncated;
      ll.push_back(ref.loglik);
      norm.push_back(ref.loglik / double(code_point_count(item.choices[k])));
      if (task.scoring == TaskScoring::LastWord) {
        hits += ref.greedy;
        loglik_sum += ref.loglik;
      }
    }
    if (task.scoring == TaskScoring::MultipleChoice) {
      const int pred = int(std::max_element(ll.begin(), ll.end()) - ll.begin());
      const int pred_norm = int(std::max_element(norm.begin(), norm.end()) - norm.begin());
      EXPECT_EQ(seen[i].predicted, pred);
      EXPECT_EQ(seen[i].predicted_norm, pred_norm);
      hits += pred == item.gold;
      hits_norm += pred_norm == item.gold;
      chance += 1.0 / double(item.requests.size());
    }
  }
  const double n = double(task.items.size());
  EXPECT_EQ(r.items, int(n));
  EXPECT_EQ(r.total_items, int(n));
  EXPECT_EQ(r.truncated_requests, truncated);
  EXPECT_DOUBLE_EQ(r.acc, hits / n);
  const double p = hits / n;
  EXPECT_NEAR(r.acc_stderr, std::sqrt(p * (1 - p) * n / (n - 1) / n), 1e-12);
  if (task.scoring == TaskScoring::LastWord) {
    ASSERT_TRUE(r.ppl.has_value());
    EXPECT_NEAR(*r.ppl, std::exp(-loglik_sum / n), 1e-6 * *r.ppl);
    EXPECT_FALSE(r.chance.has_value());
  } else {
    EXPECT_NEAR(*r.chance, chance / n, 1e-12);
    EXPECT_EQ(r.acc_norm.has_value(), task.reports_acc_norm);
    if (r.acc_norm) {
      EXPECT_DOUBLE_EQ(*r.acc_norm, hits_norm / n);
    }
  }
  EXPECT_GT(r.forwarded_tokens, 0);
}

INSTANTIATE_TEST_SUITE_P(Tasks, ZeroShotFixture,
                         ::testing::Values("hellaswag", "piqa", "arc_easy", "arc_challenge",
                                           "winogrande", "boolq", "lambada"));

TEST(ZeroShot, LongBoolqPassageIsTruncatedOnTheLeft) {
  const model::LlamaWeights& w = testing::tiny_gqa();  // 128 positions, a byte per token
  const ByteTokenizer tok;
  const Task task = load_task("boolq", testing::repo_path("tests/data/eval/tasks"));
  const TaskResult r = evaluate_task(w, tok, task, {.progress = false});
  EXPECT_EQ(r.truncated_requests, 2);
}

TEST(ZeroShot, LimitScoresTheSeededSubset) {
  const model::LlamaWeights& w = testing::tiny_gqa();
  const ByteTokenizer tok;
  const Task task = load_task("arc_easy", testing::repo_path("tests/data/eval/tasks"));
  std::vector<int> indices;
  ZeroShotOptions options{.limit = 2, .seed = 5, .progress = false};
  options.on_item = [&](const Task&, const ItemScore& s) { indices.push_back(s.index); };
  const TaskResult r = evaluate_task(w, tok, task, options);
  EXPECT_EQ(r.items, 2);
  EXPECT_EQ(r.total_items, 3);
  EXPECT_EQ(indices, pick_subset(3, 2, 5));
}

TEST(ZeroShot, NoBosChangesTheTokens) {
  const model::LlamaWeights& w = testing::tiny_gqa();
  const ByteTokenizer tok;
  const Task task = load_task("piqa", testing::repo_path("tests/data/eval/tasks"));
  std::vector<int32_t> first_token;
  ZeroShotOptions options{.add_bos = false, .progress = false};
  options.on_item = [&](const Task&, const ItemScore& s) { first_token.push_back(s.requests[0].tokens[0]); };
  evaluate_task(w, tok, task, options);
  EXPECT_EQ(first_token, (std::vector<int32_t>(3, 'Q' + 3)));
}

TEST(ZeroShot, AverageOverMultipleChoiceTasksOnly) {
  TaskResult a, b, lambada;
  a.acc = 0.5;
  a.chance = 0.25;
  b.acc = 0.7;
  b.chance = 0.5;
  lambada.acc = 0.1;
  lambada.ppl = 30;
  const auto avg = multiple_choice_average({a, lambada, b});
  ASSERT_TRUE(avg.has_value());
  EXPECT_EQ(avg->tasks, 2);
  EXPECT_DOUBLE_EQ(avg->acc, 0.6);
  EXPECT_DOUBLE_EQ(avg->chance, 0.375);
  EXPECT_FALSE(multiple_choice_average({lambada}).has_value());
}

}  // namespace
}  // namespace bitfold::eval
