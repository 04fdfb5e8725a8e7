#pragma once
// Per-channel activation ranges of every linear input of a model, before and after a method's
// transforms (`bitfold inspect`): a markdown table and a hand-written SVG plot.
//
// What is compared is the shape of each site's range vector, max_t |x_tj| over channels j: its
// largest value over its median says how unequal the channels are — what per-tensor steps suffer
// from, and what per-channel static steps move into the weights (W·diag(Δ), MergeQuant's problem).
// After QSM a site carries values on its integer grid, so its ranges sit at qmax / clip.
#include <array>
#include <optional>
#include <string>
#include <vector>

#include "calib/calibration_set.h"
#include "model/weights.h"
#include "quant/recipe.h"

namespace bitfold::methods {

// absmax per channel of the four linear-input sites of every block (kFoldSites order).
struct ModelRanges {
  std::vector<std::array<std::vector<float>, 4>> layers;
};

// One forward of each calibration window through `weights`.
ModelRanges observe_ranges(const model::LlamaWeights& weights, const calib::CalibrationSet& set);
// The weight side of the same sites: per input channel j, the mean over the consumers' rows i of
// |W_ij| / max_k |W_ik| (q, k, v | o | gate, up | down) — each row in units of its own largest
// entry, so the value says how much of its row's step range column j uses under per-row weight
// steps, unchanged by the row scales later folds put there (v rows ÷ o_proj's steps, up rows ÷
// down_proj's). After QSM the rows are those of W·diag(Δ): wide activation channels become wide
// weight columns (MergeQuant's problem). In [0, 1].
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
// median, before (orange) and after (blue) — channels in their own order; channels a split added
// are drawn after the original ones.
std::string range_svg(const ModelRanges& before, const ModelRanges* after, const std::string& title);

// What `bitfold inspect` computes: the consumers' weight columns always; the activations when a
// calibration set is given; both again on the model a method's transforms produce (the pipeline
// with transform_only: the folded FP model, QSM steps included) when a recipe is given.
struct RangeInspection {
  ModelRanges weights_before;
  std::optional<ModelRanges> activations_before;
  std::optional<ModelRanges> weights_after, activations_after;
};
// `calibration` may be null (weights only); `recipe` needs it (its method calibrates).
RangeInspection inspect_ranges(const model::LlamaWeights& weights,
                               const calib::CalibrationSet* calibration,
                               const quant::Recipe* recipe);

// The whole report as markdown: a heading per table, what "after" means, the tables.
std::string inspection_markdown(const RangeInspection& inspection, const std::string& title);

}  // namespace bitfold::methods
