#include "methods/range_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "methods/pipeline.h"
#include "methods/site_observation.h"
#include "model/llama.h"

namespace bitfold::methods {

ModelRanges observe_ranges(const model::LlamaWeights& weights, const calib::CalibrationSet& set) {
  ModelRanges r;
  r.layers.resize(weights.layers.size());
  const model::ActivationHook hook = [&](const model::ActivationPoint& p, Tensor& x) {
    for (size_t s = 0; s < kFoldSites.size(); ++s) {
      if (p.site != kFoldSites[s]) continue;
      std::vector<float>& a = r.layers[size_t(p.layer)][s];
      const int64_t T = x.dim(0), K = x.dim(1);
      if (a.empty()) a.assign(size_t(K), 0.0f);
      for (int64_t t = 0; t < T; ++t)
        for (int64_t j = 0; j < K; ++j) a[size_t(j)] = std::max(a[size_t(j)], std::fabs(x.f32()[t * K + j]));
    }
  };
  for (const auto& window : set.windows) {
    model::KVCache cache(weights.config, int(window.size()));
    model::forward(weights, window, 0, cache, model::Logits::None, hook);
  }
  return r;
}

ModelRanges weight_column_ranges(const model::LlamaWeights& weights) {
  ModelRanges r;
  r.layers.resize(weights.layers.size());
  for (size_t l = 0; l < weights.layers.size(); ++l) {
    const model::LayerWeights& b = weights.layers[l];
    const std::array<std::vector<const model::Linear*>, 4> consumers = {
        std::vector<const model::Linear*>{&b.q, &b.k, &b.v}, {&b.o}, {&b.gate, &b.up}, {&b.down}};
    for (size_t s = 0; s < 4; ++s) {
      std::vector<float>& a = r.layers[l][s];
      std::vector<double> sum;
      int64_t rows = 0;
      for (const model::Linear* lin : consumers[s]) {
        if (!lin->weight.defined())
          fail("layer {} has a quantized linear without its FP weight: inspect the FP model", l);
        const int64_t N = lin->weight.dim(0), K = lin->weight.dim(1);
        if (sum.empty()) sum.assign(size_t(K), 0.0);
        for (int64_t i = 0; i < N; ++i) {
          const float* row = lin->weight.f32() + i * K;
          double row_max = 0;
          for (int64_t j = 0; j < K; ++j) row_max = std::max(row_max, double(std::fabs(row[j])));
          ++rows;
          if (row_max == 0) continue;
          for (int64_t j = 0; j < K; ++j) sum[size_t(j)] += std::fabs(row[j]) / row_max;
        }
      }
      for (double v : sum) a.push_back(float(v / double(std::max<int64_t>(rows, 1))));
    }
  }
  return r;
}

RangeSummaryRow summarize_ranges(int layer, int site, const std::vector<float>& a) {
  RangeSummaryRow row;
  row.layer = layer;
  row.site = site;
  row.channels = int64_t(a.size());
  if (a.empty()) return row;
  const auto widest = std::max_element(a.begin(), a.end());
  row.max = *widest;
  row.argmax = widest - a.begin();
  std::vector<float> sorted = a;
  std::nth_element(sorted.begin(), sorted.begin() + long(sorted.size() / 2), sorted.end());
  row.median = sorted[sorted.size() / 2];
  return row;
}

namespace {

std::string ratio(const RangeSummaryRow& r) {
  return r.median > 0 ? fmt::format("{:.3g}", r.max / r.median) : "-";
}

std::string cells(const RangeSummaryRow& r) {
  return fmt::format("{} | {:.4g} | {:.4g} | {} | {}", r.channels, r.max, r.median, ratio(r),
                     r.argmax);
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// Panel geometry (px).
constexpr int kPanelW = 250, kPanelH = 110, kLeft = 46, kTop = 58, kGapX = 24, kGapY = 40;
constexpr double kLogMin = -2, kLogMax = 2;  // ratio axis: 10^-2 .. 10^2

// The series as one point per pixel column: the largest ratio of the channels falling there.
std::string polyline(const std::vector<float>& a, int64_t x_channels, double x0, double y0,
                     const char* colour) {
  if (a.empty()) return {};
  const RangeSummaryRow r = summarize_ranges(0, 0, a);
  if (!(r.median > 0)) return {};
  std::vector<double> column(kPanelW, -1);
  for (size_t j = 0; j < a.size(); ++j) {
    const int px = int(std::min<int64_t>(kPanelW - 1, int64_t(j) * kPanelW / std::max<int64_t>(x_channels, 1)));
    column[size_t(px)] = std::max(column[size_t(px)], double(a[j]) / r.median);
  }
  std::string points;
  for (int px = 0; px < kPanelW; ++px) {
    if (column[size_t(px)] < 0) continue;
    const double v = std::clamp(std::log10(std::max(column[size_t(px)], 1e-30)), kLogMin, kLogMax);
    const double y = y0 + kPanelH * (kLogMax - v) / (kLogMax - kLogMin);
    points += fmt::format("{:.1f},{:.1f} ", x0 + px, y);
  }
  return fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-opacity=\"0.75\" "
                     "stroke-width=\"1\" points=\"{}\"/>\n",
                     colour, points);
}

}  // namespace

std::string range_table(const ModelRanges& before, const ModelRanges* after) {
  std::string out = after ? "| layer | input | channels | max | median | max/median | widest | "
                            "after: channels | max | median | max/median | widest |\n"
                            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
                          : "| layer | input | channels | max | median | max/median | widest |\n"
                            "|---|---|---:|---:|---:|---:|---:|\n";
  for (size_t l = 0; l < before.layers.size(); ++l)
    for (size_t s = 0; s < kFoldSites.size(); ++s) {
      const RangeSummaryRow b = summarize_ranges(int(l), int(s), before.layers[l][s]);
      out += fmt::format("| {} | {} | {} |", l, model::site_name(kFoldSites[s]), cells(b));
      if (after) {
        BITFOLD_CHECK(after->layers.size() == before.layers.size(), "ranges of {} and {} layers",
                      before.layers.size(), after->layers.size());
        out += fmt::format(" {} |", cells(summarize_ranges(int(l), int(s), after->layers[l][s])));
      }
      out += "\n";
    }
  return out;
}

std::string range_svg(const ModelRanges& before, const ModelRanges* after, const std::string& title) {
  const int rows = int(before.layers.size()), cols = int(kFoldSites.size());
  const int width = kLeft + cols * (kPanelW + kGapX) + 10;
  const int height = kTop + rows * (kPanelH + kGapY) + 10;
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" "
      "viewBox=\"0 0 {} {}\" font-family=\"sans-serif\" font-size=\"10\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{}\" y=\"18\" font-size=\"14\">{}</text>\n"
      "<text x=\"{}\" y=\"36\">per-channel max |x| over the site's median (log scale), channels "
      "left to right: <tspan fill=\"#d95f02\">before</tspan>{}</text>\n",
      width, height, width, height, kLeft, xml_escape(title), kLeft,
      after ? ", <tspan fill=\"#1f5fbf\">after the transform</tspan>" : "");
  for (int l = 0; l < rows; ++l)
    for (int s = 0; s < cols; ++s) {
      const double x0 = kLeft + s * (kPanelW + kGapX), y0 = kTop + l * (kPanelH + kGapY);
      const std::vector<float>& b = before.layers[size_t(l)][size_t(s)];
      const std::vector<float>* a = after ? &after->layers[size_t(l)][size_t(s)] : nullptr;
      const int64_t channels = std::max<int64_t>(int64_t(b.size()), a ? int64_t(a->size()) : 0);
      svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" "
                         "stroke=\"#ccc\"/>\n",
                         x0, y0, kPanelW, kPanelH);
      for (int e = int(kLogMin); e <= int(kLogMax); ++e) {  // decades
        const double y = y0 + kPanelH * (kLogMax - e) / (kLogMax - kLogMin);
        svg += fmt::format("<line x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\"/>\n",
                           x0, x0 + kPanelW, y, y, e == 0 ? "#aaa" : "#eee");
        if (s == 0)
          svg += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">1e{}</text>\n",
                             x0 - 4, y + 3, e);
      }
      // After first, before on top: where a transform flattened a site, the spikes it removed
      // stay visible over the flat line.
      if (a) svg += polyline(*a, channels, x0, y0, "#1f5fbf");
      svg += polyline(b, channels, x0, y0, "#d95f02");
      const RangeSummaryRow rb = summarize_ranges(l, s, b);
      std::string label = fmt::format("layer {} {}: max/median {}", l, model::site_name(kFoldSites[size_t(s)]), ratio(rb));
      if (a) label += fmt::format(" → {}", ratio(summarize_ranges(l, s, *a)));
      if (a && a->size() != b.size()) label += fmt::format(" ({} → {} ch)", b.size(), a->size());
      svg += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", x0, y0 - 5, xml_escape(label));
    }
  svg += "</svg>\n";
  return svg;
}

RangeInspection inspect_ranges(const model::LlamaWeights& weights,
                               const calib::CalibrationSet* calibration,
                               const quant::Recipe* recipe) {
  if (recipe && !calibration)
    fail("inspect: a method's transforms need a calibration text (--calib)");
  RangeInspection r;
  r.weights_before = weight_column_ranges(weights);
  if (calibration) r.activations_before = observe_ranges(weights, *calibration);
  if (recipe) {
    QuantizeOptions options;
    options.progress = false;
    options.transform_only = true;
    options.measure_errors = false;
    const QuantizedModel t = quantize_model(weights, *recipe, *calibration, options);
    r.weights_after = weight_column_ranges(t.weights);
    r.activations_after = observe_ranges(t.weights, *calibration);
  }
  return r;
}

std::string inspection_markdown(const RangeInspection& r, const std::string& title) {
  std::string out = fmt::format("# {}\n\n", title);
  out +=
      "Per input channel j of each linear input: max over tokens of |x_j| (activations), and the "
      "mean over the consumers' rows i of |W_ij| / max_k |W_ik| (weight columns, each row in units "
      "of its own largest entry: how much of its row's step range column j uses under per-row "
      "weight steps, whatever scales the rows carry; q/k/v together, gate/up together). "
      "`max/median` says how unequal the channels are; `widest` is the channel index of the max.";
  if (r.weights_after)
    out +=
        " *After* is the model the method's transforms produce (folded, not yet rounded): where "
        "its static steps are migrated into the producer (QSM), a site carries x/Δ — values on the "
        "integer grid, |x| ≤ qmax/clip — and the weight columns are W·diag(Δ) (times any scale); "
        "channels a split added are appended after the original ones.";
  out += "\n\n";
  if (r.activations_before) {
    out += "## Activations\n\n";
    out += range_table(*r.activations_before,
                       r.activations_after ? &*r.activations_after : nullptr);
    out += "\n";
  }
  out += "## Weight columns\n\n";
  out += range_table(r.weights_before, r.weights_after ? &*r.weights_after : nullptr);
  return out;
}

}  // namespace bitfold::methods
