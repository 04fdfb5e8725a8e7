#pragma once
// The merge loop shared by the BPE tokenizers: repeatedly replace the adjacent pair of symbols
// whose merge is cheapest (leftmost on ties) by the merged symbol, until no pair merges. A heap
// over candidate pairs makes it O(n log n), so a long text costs what its length says (run.c's
// rescan-everything loop is O(n²)) while choosing exactly the same merges.
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace bitfold::text {

struct MergeCandidate {
  double cost;  // lower merges first: -score for sentencepiece scores, the rank for HF merges
  int32_t id;   // the merged symbol
};

using MergeLookup = std::function<std::optional<MergeCandidate>(int32_t left, int32_t right)>;

std::vector<int32_t> bpe_merge(std::vector<int32_t> symbols, const MergeLookup& lookup);

}  // namespace bitfold::text
