#include "text/bpe_merge.h"

#include <queue>

namespace bitfold::text {

namespace {

struct Candidate {
  double cost;
  size_t left;  // position of the left symbol; positions keep their order as symbols merge
  int32_t left_id, right_id, merged_id;
};

struct LaterFirst {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.cost != b.cost ? a.cost > b.cost : a.left > b.left;
  }
};

}  // namespace

std::vector<int32_t> bpe_merge(std::vector<int32_t> ids, const MergeLookup& lookup) {
  const size_t n = ids.size();
  if (n < 2) return ids;
  constexpr size_t kNone = SIZE_MAX;
  std::vector<size_t> prev(n), next(n);
  std::vector<bool> alive(n, true);
  for (size_t i = 0; i < n; ++i) {
    prev[i] = i == 0 ? kNone : i - 1;
    next[i] = i + 1 == n ? kNone : i + 1;
  }
  std::priority_queue<Candidate, std::vector<Candidate>, LaterFirst> heap;
  const auto consider = [&](size_t left) {
    if (left == kNone || next[left] == kNone) return;
    const size_t right = next[left];
    if (const auto m = lookup(ids[left], ids[right]))
      heap.push({m->cost, left, ids[left], ids[right], m->id});
  };
  for (size_t i = 0; i + 1 < n; ++i) consider(i);

  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    // Stale when either side has merged since: the pair at `left` is no longer these two ids.
    if (!alive[c.left] || next[c.left] == kNone || ids[c.left] != c.left_id ||
        ids[next[c.left]] != c.right_id)
      continue;
    const size_t right = next[c.left];
    ids[c.left] = c.merged_id;
    alive[right] = false;
    next[c.left] = next[right];
    if (next[right] != kNone) prev[next[right]] = c.left;
    consider(prev[c.left]);
    consider(c.left);
  }
  std::vector<int32_t> out;
  out.reserve(n);
  for (size_t i = 0; i != kNone; i = next[i]) out.push_back(ids[i]);
  return out;
}

}  // namespace bitfold::text
