#include "methods/pipeline.h"

#include <chrono>

#include "calib/block_streams.h"
#include "core/error.h"
#include "core/progress.h"
#include "methods/method.h"
#include "ops/ops.h"

namespace bitfold::methods {

namespace {

using model::ActivationSite;

struct Settings {
  bool sequential = false;
  bool quantize_lm_head = false;
  nlohmann::json method_hyperparameters = nlohmann::json::object();
};

Settings split_hyperparameters(const quant::Recipe& recipe) {
  Settings s;
  for (const auto& [key, value] : recipe.hyperparameters.items()) {
    if (key == "sequential" || key == "quantize_lm_head") {
      if (!value.is_boolean())
        fail("{}.hyperparameters.{}: expected true or false, got {}", recipe.source, key,
             value.dump());
      (key == "sequential" ? s.sequential : s.quantize_lm_head) = value.get<bool>();
    } else {
      s.method_hyperparameters[key] = value;
    }
  }
  return s;
}

ActivationSite site_of(std::string_view local) {
  if (local == "self_attn.o_proj") return ActivationSite::OProjInput;
  if (local == "mlp.gate_proj" || local == "mlp.up_proj") return ActivationSite::MlpInput;
  if (local == "mlp.down_proj") return ActivationSite::DownProjInput;
  return ActivationSite::AttnInput;
}

model::Linear& linear_of(model::LayerWeights& b, std::string_view local) {
  if (local == "self_attn.q_proj") return b.q;
  if (local == "self_attn.k_proj") return b.k;
  if (local == "self_attn.v_proj") return b.v;
  if (local == "self_attn.o_proj") return b.o;
  if (local == "mlp.gate_proj") return b.gate;
  if (local == "mlp.up_proj") return b.up;
  return b.down;
}

quant::LayerQuant specs_for(const quant::Recipe& recipe, const std::string& name, int64_t K) {
  const quant::LayerQuant q = recipe.for_linear(name, K);
  if (q.activations.quantized() && !q.weights.quantized())
    fail("{}: layer {}: activations {} need quantized weights (the integer engine multiplies "
         "codes by codes); quantize the weights too, or leave the activations fp16",
         recipe.source, name, quant::describe(q.activations));
  return q;
}

std::vector<LinearSlot> block_slots(model::LayerWeights& block, int layer,
                                    const quant::Recipe& recipe) {
  std::vector<LinearSlot> slots;
  for (const std::string& local : model::linear_names()) {
    LinearSlot s;
    s.name = linear_name(layer, local);
    s.local = local;
    s.linear = &linear_of(block, local);
    s.site = site_of(local);
    s.spec = specs_for(recipe, s.name, s.linear->in_features());
    slots.push_back(std::move(s));
  }
  return slots;
}

// Σ‖y_q − y‖² and Σ‖y‖² of one linear on the inputs it was shown.
struct ErrorSum {
  double err = 0, ref = 0;
  void add(const Tensor& y_q, const Tensor& y) {
    for (int64_t e = 0; e < y.numel(); ++e) {
      const double d = double(y_q.f32()[e]) - double(y.f32()[e]);
      err += d * d;
      ref += double(y.f32()[e]) * double(y.f32()[e]);
    }
  }
  double value() const { return ref > 0 ? err / ref : 0.0; }
};

void measure(const model::Linear& linear, const Tensor& x, ErrorSum& sum) {
  Tensor y_q = Tensor::empty({x.dim(0), linear.out_features()}, DType::F32);
  Tensor y = Tensor::empty({x.dim(0), linear.out_features()}, DType::F32);
  ops::quantized_linear(x, *linear.quantized, y_q);
  if (linear.low_rank_a.defined()) {  // the side path is part of the layer's output
    Tensor ax = Tensor::empty({x.dim(0), linear.low_rank_a.dim(0)}, DType::F32);
    Tensor bax = Tensor::empty(y_q.shape(), DType::F32);
    ops::linear(x, linear.low_rank_a, Tensor(), ax);
    ops::linear(ax, linear.low_rank_b, Tensor(), bax);
    ops::add_inplace(y_q, bax);
  }
  ops::linear(x, linear.weight, linear.bias, y);
  sum.add(y_q, y);
}

std::shared_ptr<const model::KvCacheQuant> kv_quantizer(const quant::QuantSpec& spec,
                                                        const calib::BlockStats& stats) {
  auto kv = std::make_shared<model::KvCacheQuant>();
  kv->key.spec = kv->value.spec = spec;
  if (!spec.dynamic) {
    kv->key = quant::fit_params(spec, stats.keys.stats());
    kv->value = quant::fit_params(spec, stats.values.stats());
  }
  return kv;
}

LinearReport report_of(const LinearSlot& s, const calib::RangeSummary& before,
                       const calib::RangeSummary& after, const ErrorSum* error) {
  LinearReport r;
  r.name = s.name;
  r.weights = quant::describe(s.spec.weights);
  r.activations = quant::describe(s.spec.activations);
  r.before = before;
  r.after = after;
  if (error && s.linear->quantized) r.output_rel_mse = error->value();
  if (s.linear->quantized && !s.linear->quantized->weight_only())
    r.exact_float32 = s.linear->quantized->accumulator() == quant::Accumulator::Float32;
  return r;
}

}  // namespace

std::string linear_name(int layer, std::string_view local) {
  return fmt::format("model.layers.{}.{}", layer, local);
}

void check_recipe(const model::LlamaWeights& weights, const quant::Recipe& recipe) {
  const Settings settings = split_hyperparameters(recipe);
  make_method(recipe, settings.method_hyperparameters);
  const model::ModelConfig& c = weights.config;
  for (int l = 0; l < c.n_layers; ++l) {
    model::LayerWeights copy = weights.layers[size_t(l)];
    block_slots(copy, l, recipe);
  }
  if (settings.quantize_lm_head) specs_for(recipe, "lm_head", c.dim);
  recipe.kv_cache_for(c.head_dim);
}

QuantizedModel quantize_model(model::LlamaWeights weights, const quant::Recipe& recipe,
                              const calib::CalibrationSet& calibration,
                              const QuantizeOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  check_recipe(weights, recipe);
  const Settings settings = split_hyperparameters(recipe);
  const std::unique_ptr<Method> method = make_method(recipe, settings.method_hyperparameters);
  const MethodNeeds needs = method->needs();
  const model::ModelConfig& c = weights.config;
  const quant::QuantSpec kv_spec = recipe.kv_cache_for(c.head_dim);

  QuantizedModel result;
  result.recipe = recipe;
  result.calibration = calibration.info();

  const calib::Stream source = settings.sequential ? calib::Stream::Quantized : calib::Stream::Fp;
  const bool keep_fp = options.keep_fp_stream || source == calib::Stream::Fp;
  const int windows = int(calibration.windows.size());
  const int passes = 2 + needs.extra_passes + (settings.sequential && keep_fp ? 1 : 0);
  ProgressBar bar("calibrate", int64_t(c.n_layers) * windows * passes, options.progress);
  calib::BlockStreams streams(weights, calibration, keep_fp, &bar, options.device);

  for (int l = 0; l < c.n_layers; ++l) {
    const model::LayerWeights original = weights.layers[size_t(l)];
    model::LayerWeights& block = weights.layers[size_t(l)];

    // 1. Statistics (and the FP stream's next inputs when that is the source).
    calib::ObserveOptions observe;
    observe.observer = needs.observer;
    observe.kv_cache = kv_spec.quantized() && !kv_spec.dynamic;
    std::vector<Tensor> fp_next;
    calib::BlockStats stats = calib::observe_block(
        streams, original, source, observe, source == calib::Stream::Fp ? &fp_next : nullptr);

    BlockContext ctx{c, l, block, original, stats, streams, source, recipe,
                     block_slots(block, l, recipe)};
    std::array<calib::RangeSummary, model::kActivationSiteCount> before, after;
    for (ActivationSite site : calib::kLinearSites)
      before[size_t(site)] = calib::summarize(stats.at(site).absmax());

    // 2. Transform.
    method->transform(ctx);
    for (ActivationSite site : calib::kLinearSites)
      after[size_t(site)] = calib::summarize(stats.at(site).absmax());

    // 3. Quantizers.
    for (LinearSlot& slot : ctx.linears) {
      if (!slot.quantized() || options.transform_only) continue;
      const quant::QuantParams input = method->input_quantizer(ctx, slot);
      slot.linear->quantized = method->quantize_linear(ctx, slot, input);
    }
    if (kv_spec.quantized() && !options.transform_only) block.kv_quant = kv_quantizer(kv_spec, stats);

    // 4. Advance the quantized stream, measuring each quantized linear on its actual inputs.
    std::vector<ErrorSum> errors(ctx.linears.size());
    int window = 0;
    const model::ActivationHook hook = [&](const model::ActivationPoint& p, Tensor& x) {
      if (!options.measure_errors || window >= options.error_windows) return;
      for (size_t i = 0; i < ctx.linears.size(); ++i) {
        const LinearSlot& s = ctx.linears[i];
        if (s.site == p.site && s.linear->quantized) measure(*s.linear, x, errors[i]);
      }
    };
    std::vector<Tensor> quantized_next;
    streams.run(block, calib::Stream::Quantized, hook, &quantized_next,
                [&](int w, model::KVCache&) { window = w + 1; });
    if (source == calib::Stream::Quantized && keep_fp)
      streams.run(original, calib::Stream::Fp, {}, &fp_next);

    BlockReport block_report;
    block_report.layer = l;
    if (keep_fp) block_report.output_rel_mse = calib::relative_mse(quantized_next, fp_next);
    result.report.blocks.push_back(block_report);
    for (size_t i = 0; i < ctx.linears.size(); ++i) {
      const ActivationSite site = ctx.linears[i].site;
      result.report.linears.push_back(report_of(ctx.linears[i], before[size_t(site)],
                                                after[size_t(site)],
                                                options.measure_errors ? &errors[i] : nullptr));
    }
    streams.advance(std::move(fp_next), std::move(quantized_next));
  }

  // lm_head, on the final norm of the (quantized) residual streams.
  if (settings.quantize_lm_head && !options.transform_only) {
    LinearSlot slot;
    slot.name = slot.local = "lm_head";
    slot.linear = &weights.lm_head;
    slot.site = ActivationSite::LmHeadInput;
    slot.spec = specs_for(recipe, "lm_head", c.dim);
    if (slot.quantized()) {
      calib::BlockStats stats;
      stats.layer = c.n_layers;
      calib::ChannelObserver& o = stats.at(ActivationSite::LmHeadInput);
      o = calib::ChannelObserver(c.dim, needs.observer);
      const std::vector<Tensor>& final_stream = streams.inputs(source);
      std::vector<Tensor> normed;
      for (const Tensor& x : final_stream) {
        Tensor xn = Tensor::empty(x.shape(), DType::F32);
        ops::rmsnorm(x, weights.final_norm, c.norm_eps, xn);
        const int64_t bad = o.observe(xn.f32(), xn.dim(0));
        if (bad >= 0)
          fail("calibration: non-finite activation (inf or NaN) at lm_head_input (token {}, "
               "channel {})",
               bad / c.dim, bad % c.dim);
        normed.push_back(std::move(xn));
      }
      model::LayerWeights none;
      BlockContext ctx{c, c.n_layers, none, none, stats, streams, source, recipe, {slot}};
      const calib::RangeSummary range = calib::summarize(o.absmax());
      const quant::QuantParams input = method->input_quantizer(ctx, ctx.linears[0]);
      weights.lm_head.quantized = method->quantize_linear(ctx, ctx.linears[0], input);
      ErrorSum error;
      if (options.measure_errors)
        for (int w = 0; w < std::min(windows, options.error_windows); ++w)
          measure(weights.lm_head, normed[size_t(w)], error);
      result.report.linears.push_back(
          report_of(ctx.linears[0], range, range, options.measure_errors ? &error : nullptr));
    }
  }

  result.weights = std::move(weights);
  result.report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace bitfold::methods
