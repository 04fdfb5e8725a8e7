#pragma once
// Per-channel activation ranges of every linear input of a model, before and after a method's
// transforms (`bitfold inspect`): a markdown table and a hand-written SVG plot.
//
// What is compared is the shape of each site's range vector, max_t |x_tj| over channels j: its
// largest value over its median says how unequal the channels are — what per-tensor steps suffer
// from, and what per-channel static steps move into the weights (W·diag(Δ), MergeQuant's problem).
// After QSM a site carries values on its integer grid, so its ranges sit at qmax / clip.
#include <array>
#include <string>
#include <vector>

#include "calib/calibration_set.h"
#include "model/weights.h"

namespace bitfold::methods {

// absmax per channel of the four linear-input sites of every block (kFoldSites order).
struct ModelRanges {
  std::vector<std::array<std::vector<float>, 4>> layers;
};

// One forward of each calibration window through `weights`.
ModelRanges observe_ranges(const model::LlamaWeights& weights, const calib::CalibrationSet& set);
// The weight side of the same sites: per input channel j, max over the consumers' rows of
// |W_ij| (q, k, v | o | gate, up | down) — after QSM these are the columns of W·diag(Δ).
ModelRanges weight_column_ranges(const model::LlamaWeights& weights);

struct RangeSummaryRow {
  int layer = 0;
  int site = 0;  // index into kFoldSites
  int64_t channels = 0;
  float max = 0, median = 0;
  int64_t argmax = 0;
};
RangeSummaryRow summarize_ranges(int layer, int site, const std::vector<float>& absmax);

// | layer | input | channels | max | median | max/median | widest channel | (after: the same) |
std::string range_table(const ModelRanges& before, const ModelRanges* after);

// A grid of small log-scale plots, one per (layer, site): each channel's range over the site's
// median, before (grey) and after (blue) — channels in their own order; channels a split added
// are drawn after the original ones.
std::string range_svg(const ModelRanges& before, const ModelRanges* after, const std::string& title);

}  // namespace bitfold::methods
