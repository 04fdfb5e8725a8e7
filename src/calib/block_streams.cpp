#include "calib/block_streams.h"

#include <fmt/format.h>

#include <limits>

#include "core/error.h"
#include "model/to_device.h"

namespace bitfold::calib {

BlockStreams::BlockStreams(const model::LlamaWeights& model, const CalibrationSet& set,
                           bool keep_fp, ProgressBar* progress, Device device)
    : config_(model.config), device_(device), progress_(progress) {
  if (set.windows.empty()) fail("calibration: the calibration set {} has no windows", set.source);
  length_ = set.length;
  cache_ = model::KVCache(config_, length_, device_);
  if (device_ != Device::CPU) host_cache_ = model::KVCache(config_, length_);
  for (const std::vector<int32_t>& w : set.windows) {
    BITFOLD_CHECK(int(w.size()) == length_, "window of {} tokens in a set of length {}", w.size(),
                  length_);
    quantized_.push_back(model::embed(model, w));
  }
  if (keep_fp) fp_ = quantized_;  // shared: nothing writes into held inputs
}

const std::vector<Tensor>& BlockStreams::inputs(Stream stream) const {
  if (stream == Stream::Fp) {
    BITFOLD_CHECK(has_fp(), "the FP stream is not kept");
    return fp_;
  }
  return quantized_;
}

void BlockStreams::run(const model::LayerWeights& block, Stream stream,
                       const model::ActivationHook& hook, std::vector<Tensor>* outputs,
                       const WindowCallback& after, int windows) {
  BITFOLD_CHECK(layer_ < config_.n_layers, "no block {} in a model of {}", layer_, config_.n_layers);
  const std::vector<Tensor>& in = inputs(stream);
  const int count = windows > 0 ? std::min(windows, int(in.size())) : int(in.size());
  if (outputs) outputs->clear();
  const bool on_cpu = device_ == Device::CPU;
  // On the GPU: the block copied over once per run, hooks on host copies (written back).
  const model::LayerWeights moved = on_cpu ? model::LayerWeights() : model::to_device(block, device_);
  const model::LayerWeights& runs = on_cpu ? block : moved;
  model::ActivationHook host_hook;
  if (!on_cpu && hook)
    host_hook = [&hook](const model::ActivationPoint& p, Tensor& x) {
      Tensor host = x.to(Device::CPU);
      hook(p, host);
      x.copy_from(host);
    };
  for (int w = 0; w < count; ++w) {
    Tensor x = on_cpu ? in[size_t(w)].clone() : in[size_t(w)].to(device_);
    model::forward_block(config_, runs, layer_, x, 0, cache_, on_cpu ? hook : host_hook);
    if (after && on_cpu) {
      after(w, cache_);
    } else if (after) {
      host_cache_.keys(layer_).copy_from(cache_.keys(layer_));
      host_cache_.values(layer_).copy_from(cache_.values(layer_));
      after(w, host_cache_);
    }
    if (outputs) outputs->push_back(on_cpu ? std::move(x) : x.to(Device::CPU));
    if (progress_) progress_->advance(1, fmt::format("block {}/{}", layer_ + 1, config_.n_layers));
  }
}

void BlockStreams::advance(std::vector<Tensor> fp_next, std::vector<Tensor> quantized_next) {
  BITFOLD_CHECK(quantized_next.size() == quantized_.size(), "{} outputs for {} windows",
                quantized_next.size(), quantized_.size());
  if (has_fp()) {
    BITFOLD_CHECK(fp_next.size() == fp_.size(), "{} FP outputs for {} windows", fp_next.size(),
                  fp_.size());
    fp_ = std::move(fp_next);
  }
  quantized_ = std::move(quantized_next);
  cache_.release(layer_);
  if (device_ != Device::CPU) host_cache_.release(layer_);
  ++layer_;
}

BlockStats observe_block(BlockStreams& streams, const model::LayerWeights& block, Stream stream,
                         const ObserveOptions& options, std::vector<Tensor>* outputs) {
  const model::ModelConfig& c = streams.config();
  const int layer = streams.layer();
  BlockStats stats;
  stats.layer = layer;
  using model::ActivationSite;
  for (int s = 0; s < model::kActivationSiteCount; ++s) {
    const auto site = ActivationSite(s);
    // Widths from the block: a folded channel split widens the norm outputs and the MLP.
    int64_t width = c.dim;
    if (site == ActivationSite::AttnInput) width = block.attn_norm.numel();
    if (site == ActivationSite::MlpInput) width = block.ffn_norm.numel();
    if (site == ActivationSite::OProjInput) width = c.q_dim();
    if (site == ActivationSite::DownProjInput) width = block.down.in_features();
    if (site == ActivationSite::LmHeadInput) width = 0;
    stats.sites[size_t(s)] = ChannelObserver(width, options.observer);
  }
  if (options.kv_cache) {
    stats.keys = ChannelObserver(c.kv_dim(), options.observer);
    stats.values = ChannelObserver(c.kv_dim(), options.observer);
  }
  int window = 0;
  const auto report = [&](std::string_view what, int64_t index, int64_t width) {
    fail("calibration: non-finite activation (inf or NaN) at layer {} {} (window {}, token {}, "
         "channel {}); the model overflows on this text",
         layer, what, window, index / width, index % width);
  };
  const model::ActivationHook hook = [&](const model::ActivationPoint& p, Tensor& x) {
    ChannelObserver& o = stats.at(p.site);
    if (o.channels() == 0) return;
    const int64_t bad = o.observe(x.f32(), x.dim(0));
    if (bad >= 0) report(model::site_name(p.site), bad, x.dim(1));
  };
  const WindowCallback after = [&](int w, model::KVCache& cache) {
    if (options.kv_cache) {
      const int64_t L = streams.window_length();
      const Tensor k = cache.keys(layer).slice_rows(0, L), v = cache.values(layer).slice_rows(0, L);
      int64_t bad = stats.keys.observe(k.f32(), L);
      if (bad >= 0) report("keys", bad, k.dim(1));
      bad = stats.values.observe(v.f32(), L);
      if (bad >= 0) report("values", bad, v.dim(1));
    }
    window = w + 1;
  };
  streams.run(block, stream, hook, outputs, after);
  return stats;
}

double relative_mse(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  BITFOLD_CHECK(a.size() == b.size(), "relative_mse of {} against {} tensors", a.size(), b.size());
  double err = 0, ref = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    BITFOLD_CHECK(a[i].shape() == b[i].shape(), "relative_mse: shapes differ");
    const float* x = a[i].f32();
    const float* y = b[i].f32();
    for (int64_t e = 0; e < a[i].numel(); ++e) {
      const double d = double(x[e]) - double(y[e]);
      err += d * d;
      ref += double(y[e]) * double(y[e]);
    }
  }
  return ref > 0 ? err / ref : (err > 0 ? std::numeric_limits<double>::infinity() : 0.0);
}

}  // namespace bitfold::calib
