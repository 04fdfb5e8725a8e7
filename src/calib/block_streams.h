#pragma once
// Block-wise streaming calibration (docs/quantization.md §2.3). The residual stream of every
// calibration window is kept at the input of one block at a time — for the FP model and for the
// model as quantized so far — and pushed through that block only, so a model is calibrated one
// block at a time (its other blocks can stay on disk or be freed) and sequential methods see
// quantized-upstream inputs:
//
//   BlockStreams s(model, set);
//   for l in layers:
//     stats = observe(s, original block l, Stream::Fp, {}, &fp_next)   // statistics + FP outputs
//     ... transform / quantize block l ...
//     s.run(quantized block l, Stream::Quantized, hook, &q_next)
//     s.advance(fp_next, q_next)
//
// Windows run one after the other through forward_block (each at positions 0..L−1, the model's
// own ops and threads), so memory is N · L · dim floats per stream plus one layer's KV cache.
//
// On the GPU (device CUDA): the held streams stay on the host (methods read them there) and the
// block runs on the GPU — run() copies the block (model::to_device) and each window over, and
// the outputs back. Hooks and window callbacks see host copies of the site activations and of the
// KV cache (the CPU observers then gather statistics: one code path, the same numbers); what a
// hook writes into its copy is copied back before the forward goes on.
#include <array>
#include <functional>
#include <optional>
#include <vector>

#include "calib/calibration_set.h"
#include "calib/channel_observer.h"
#include "core/progress.h"
#include "model/llama.h"

namespace bitfold::calib {

enum class Stream : uint8_t {
  Fp,         // the FP model's activations
  Quantized,  // the activations of the model quantized up to this block
};

// The four linear-input sites of a block, indexable by site.
inline constexpr std::array<model::ActivationSite, 4> kLinearSites = {
    model::ActivationSite::AttnInput, model::ActivationSite::OProjInput,
    model::ActivationSite::MlpInput, model::ActivationSite::DownProjInput};

// Statistics of one block: the four linear-input sites, the block's input and output, and
// (when asked) the keys after RoPE and the values it wrote to the KV cache.
struct BlockStats {
  int layer = 0;
  std::array<ChannelObserver, model::kActivationSiteCount> sites;  // indexed by ActivationSite
  ChannelObserver keys, values;

  ChannelObserver& at(model::ActivationSite site) { return sites[size_t(site)]; }
  const ChannelObserver& at(model::ActivationSite site) const { return sites[size_t(site)]; }
};

struct ObserveOptions {
  ObserverOptions observer;
  bool kv_cache = false;  // also observe keys (after RoPE) and values
};

// Called after each window has gone through the block, with the window index and the KV cache
// holding that window's keys and values for the block's layer (rows 0..L−1).
using WindowCallback = std::function<void(int window, model::KVCache& cache)>;

class BlockStreams {
 public:
  // Embeds every window. keep_fp: hold the FP model's stream beside the quantized one (needed for
  // block output errors and by methods that compare against the FP block); without it only the
  // quantized stream exists. progress: the bar advanced once per window run (may be null).
  // device: where run() executes the block (the model itself stays where it is).
  BlockStreams(const model::LlamaWeights& model, const CalibrationSet& set, bool keep_fp,
               ProgressBar* progress = nullptr, Device device = Device::CPU);

  int layer() const { return layer_; }  // the block whose inputs are held
  int windows() const { return int(quantized_.size()); }
  int window_length() const { return length_; }
  bool has_fp() const { return !fp_.empty(); }
  Device device() const { return device_; }
  const model::ModelConfig& config() const { return config_; }
  // Block inputs [L, dim] per window. The tensors are never written in place (run() writes new
  // ones), so they may be shared between the two streams.
  const std::vector<Tensor>& inputs(Stream stream) const;

  // Runs `block` as layer layer() over every window of `stream` (the held inputs are left as they
  // are), calling `hook` at every site and `after` after each window (the cache it is given lives
  // on the CPU). When `outputs` is given it receives the block outputs (host tensors). `windows`
  // limits the run to the first windows (0: all).
  void run(const model::LayerWeights& block, Stream stream, const model::ActivationHook& hook,
           std::vector<Tensor>* outputs, const WindowCallback& after = {}, int windows = 0);

  // Replaces the held inputs by the outputs of layer() and moves to the next layer. fp_next may be
  // empty when the FP stream is not kept.
  void advance(std::vector<Tensor> fp_next, std::vector<Tensor> quantized_next);

 private:
  model::ModelConfig config_;
  std::vector<Tensor> fp_, quantized_;
  model::KVCache cache_;       // on device_
  model::KVCache host_cache_;  // device_ != CPU: the window's K/V rows copied for `after`
  Device device_ = Device::CPU;
  int layer_ = 0;
  int length_ = 0;
  ProgressBar* progress_ = nullptr;
};

// Runs `block` over `stream` with observers at every site (and the KV cache when asked): the
// block's statistics. A non-finite activation stops calibration with an error naming the layer,
// site, window, token and channel. `outputs` as in BlockStreams::run.
BlockStats observe_block(BlockStreams& streams, const model::LayerWeights& block, Stream stream,
                         const ObserveOptions& options, std::vector<Tensor>* outputs = nullptr);

// Σ‖a − b‖² / Σ‖b‖² over paired tensors (relative MSE of a against the reference b).
double relative_mse(const std::vector<Tensor>& a, const std::vector<Tensor>& b);

}  // namespace bitfold::calib
