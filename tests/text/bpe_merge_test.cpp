#include "text/bpe_merge.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace bitfold::text {
namespace {

// run.c's loop, literally: rescan all pairs, merge the cheapest (first on ties), repeat.
std::vector<int32_t> naive_merge(std::vector<int32_t> ids, const MergeLookup& lookup) {
  while (true) {
    int best = -1;
    MergeCandidate best_merge{0, 0};
    for (size_t i = 0; i + 1 < ids.size(); ++i) {
      const auto m = lookup(ids[i], ids[i + 1]);
      if (m && (best < 0 || m->cost < best_merge.cost)) {
        best = int(i);
        best_merge = *m;
      }
    }
    if (best < 0) return ids;
    ids[size_t(best)] = best_merge.id;
    ids.erase(ids.begin() + best + 1);
  }
}

// Random merge tables with many ties and chains, over a small alphabet so merges cascade.
TEST(BpeMerge, ChoosesTheSameMergesAsTheNaiveLoop) {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 300; ++trial) {
    std::map<std::pair<int32_t, int32_t>, MergeCandidate> table;
    std::uniform_int_distribution<int32_t> symbol(0, 5);
    std::uniform_int_distribution<int> cost(0, 4);
    int32_t next_id = 6;
    for (int m = 0; m < 12; ++m) {
      const int32_t a = std::uniform_int_distribution<int32_t>(0, next_id - 1)(rng);
      const int32_t b = std::uniform_int_distribution<int32_t>(0, next_id - 1)(rng);
      if (table.emplace(std::pair{a, b}, MergeCandidate{double(cost(rng)), next_id}).second)
        ++next_id;
    }
    const MergeLookup lookup = [&](int32_t a, int32_t b) -> std::optional<MergeCandidate> {
      const auto it = table.find({a, b});
      if (it == table.end()) return std::nullopt;
      return it->second;
    };
    std::vector<int32_t> ids(size_t(std::uniform_int_distribution<int>(0, 40)(rng)));
    for (auto& id : ids) id = symbol(rng);
    EXPECT_EQ(bpe_merge(ids, lookup), naive_merge(ids, lookup)) << "trial " << trial;
  }
}

}  // namespace
}  // namespace bitfold::text
