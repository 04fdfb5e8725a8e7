#include "model/quantized_checkpoint.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "core/sha256.h"
#include "core/version.h"
#include "io/safetensors.h"
#include "model/hf_config.h"
#include "quant/dense_pack.h"
#include "text/tokenizer.h"

namespace bitfold::model {

namespace fs = std::filesystem;
using nlohmann::json;
using quant::Granularity;
using quant::QuantSpec;

namespace {

constexpr std::string_view kFormatName = "bitfold-quantized";

// ---- spec <-> JSON -------------------------------------------------------------------------------

struct Spelling {
  Granularity granularity;
  bool dynamic;
  std::string_view name;
};
constexpr Spelling kWeightSpellings[] = {{Granularity::Tensor, false, "tensor"},
                                         {Granularity::OutputChannel, false, "channel"},
                                         {Granularity::Group, false, "group"}};
constexpr Spelling kActivationSpellings[] = {{Granularity::Tensor, false, "static-tensor"},
                                             {Granularity::InputChannel, false, "static-channel"},
                                             {Granularity::Token, true, "dynamic-token"},
                                             {Granularity::Tensor, true, "dynamic-tensor"},
                                             {Granularity::Group, true, "dynamic-group"}};
constexpr Spelling kKvSpellings[] = {{Granularity::Tensor, false, "static-tensor"},
                                     {Granularity::Head, false, "static-head"},
                                     {Granularity::Token, true, "dynamic-token"}};

template <size_t n>
json spec_json(const QuantSpec& spec, const Spelling (&spellings)[n]) {
  if (!spec.quantized()) return {{"format", "fp16"}};
  json j = {{"format", quant::format_name(spec.format)}, {"bits", spec.format.bits}};
  for (const Spelling& s : spellings)
    if (s.granularity == spec.granularity && s.dynamic == spec.dynamic) j["granularity"] = s.name;
  BITFOLD_CHECK(j.contains("granularity"), "no spelling for {}", quant::describe(spec));
  if (spec.group_size > 0) j["group"] = spec.group_size;
  return j;
}

template <size_t n>
QuantSpec spec_from_json(const json& j, const Spelling (&spellings)[n], const std::string& where) {
  if (!j.is_object()) fail("{}: expected an object, got {}", where, j.dump());
  if (!j.contains("format") || !j["format"].is_string())
    fail("{}: no \"format\" string", where);
  QuantSpec spec;
  try {
    spec.format = quant::parse_format(j["format"].get<std::string>());
  } catch (const Error& e) {
    fail("{}: {}", where, e.what());
  }
  if (!spec.quantized()) return spec;
  if (!j.contains("bits") || !j["bits"].is_number_integer()) fail("{}: no integer \"bits\"", where);
  const int64_t bits = j["bits"].get<int64_t>();
  if (bits < 2 || bits > 8) fail("{}: bits {} outside 2..8", where, bits);
  if (bits != spec.format.bits)
    fail("{}: bits {} disagree with format {} ({} bits)", where, bits,
         quant::format_name(spec.format), spec.format.bits);
  const std::string g = j.contains("granularity") && j["granularity"].is_string()
                            ? j["granularity"].get<std::string>()
                            : std::string();
  bool known = false;
  for (const Spelling& s : spellings)
    if (s.name == g) {
      spec.granularity = s.granularity;
      spec.dynamic = s.dynamic;
      known = true;
    }
  if (!known) fail("{}: unknown granularity '{}'", where, g);
  if (j.contains("group")) {
    if (!j["group"].is_number_integer() || j["group"].get<int64_t>() < 1)
      fail("{}: group {} is not a positive integer", where, j["group"].dump());
    spec.group_size = j["group"].get<int64_t>();
  }
  try {
    spec.validate(where);
  } catch (const Error& e) {
    fail("{}", e.what());
  }
  return spec;
}

// ---- tensors ----------------------------------------------------------------------------------

Tensor i32_tensor(const std::vector<int32_t>& values, Shape shape) {
  Tensor t = Tensor::empty(std::move(shape), DType::I32);
  std::memcpy(t.raw(), values.data(), values.size() * sizeof(int32_t));
  return t;
}

// The narrowest floating dtype that gives back every value bit for bit.
Tensor narrowest_lossless(const Tensor& t) {
  for (DType d : {DType::F16, DType::BF16}) {
    const Tensor narrow = t.to(d);
    const Tensor back = narrow.to(DType::F32);
    if (std::memcmp(back.raw(), t.raw(), t.nbytes()) == 0) return narrow;
  }
  return t;
}

// The shape of the steps of a weight spec on [N, K].
Shape weight_step_shape(const QuantSpec& spec, int64_t N, int64_t K) {
  if (spec.granularity == Granularity::Tensor) return {1};
  if (spec.granularity == Granularity::Group) return {N, K / spec.group_size};
  return {N};
}

Shape input_step_shape(const QuantSpec& spec, int64_t K) {
  return spec.granularity == Granularity::InputChannel ? Shape{K} : Shape{1};
}

Shape kv_step_shape(const QuantSpec& spec, int64_t kv_dim) {
  return spec.granularity == Granularity::Head ? Shape{kv_dim / spec.group_size} : Shape{1};
}

// Calls fn(name, linear) for every linear the checkpoint describes, in file order.
template <class W, class Fn>
void for_each_linear(W& w, Fn&& fn) {
  for (int l = 0; l < w.config.n_layers; ++l) {
    auto& b = w.layers[size_t(l)];
    const auto linears = std::array{&b.q, &b.k, &b.v, &b.o, &b.gate, &b.up, &b.down};
    for (size_t i = 0; i < linear_names().size(); ++i)
      fn(fmt::format("model.layers.{}.{}", l, linear_names()[i]), *linears[i]);
  }
}

// ---- reading ----------------------------------------------------------------------------------

class Reader {
 public:
  Reader(const fs::path& dir, json meta)
      : meta_(std::move(meta)),
        meta_path_((dir / kQuantizationFile).string()),
        file_(io::SafetensorsFile::open(dir / kQuantizedTensorsFile)),
        where_(file_.path().string()) {
    if (!meta_.contains("layers") || !meta_["layers"].is_object())
      fail("{}: no \"layers\" object", meta_path_);
  }

  bool has_layer(const std::string& name) const { return meta_["layers"].contains(name); }
  const json& layer_meta(const std::string& name) const {
    const json& layers = meta_["layers"];
    if (!layers.contains(name)) fail("{}: layers: no entry for {}", meta_path_, name);
    if (!layers[name].is_object()) fail("{}: layers.{}: expected an object", meta_path_, name);
    return layers[name];
  }
  const std::string& meta_path() const { return meta_path_; }

  // The entry `name`, checked for dtype and shape; `what` says why it is needed.
  const io::SafetensorsEntry& entry(const std::string& name, std::initializer_list<DType> dtypes,
                                    const Shape& shape, const std::string& what) {
    if (!file_.contains(name)) fail("{}: tensor {} is missing ({})", where_, name, what);
    used_.insert(name);
    const io::SafetensorsEntry& e = file_.entry(name);
    if (std::find(dtypes.begin(), dtypes.end(), e.dtype) == dtypes.end())
      fail("{}: tensor {} has dtype {}, expected {} ({})", where_, name, dtype_name(e.dtype),
           dtype_name(*dtypes.begin()), what);
    if (e.shape != shape)
      fail("{}: tensor {} has shape {}, expected {} ({})", where_, name, shape_str(e.shape),
           shape_str(shape), what);
    return e;
  }

  Tensor floats(const std::string& name, const Shape& shape, const std::string& what) {
    entry(name, {DType::F32, DType::F16, DType::BF16}, shape, what);
    const Tensor t = file_.tensor(name);
    return t.dtype() == DType::F32 ? t.clone() : t.to(DType::F32);
  }
  std::vector<float> f32_values(const std::string& name, const Shape& shape, const std::string& what) {
    entry(name, {DType::F32}, shape, what);
    const Tensor t = file_.tensor(name);
    return std::vector<float>(t.f32(), t.f32() + t.numel());
  }
  std::vector<int32_t> i32_values(const std::string& name, const Shape& shape, const std::string& what) {
    entry(name, {DType::I32}, shape, what);
    const Tensor t = file_.tensor(name);
    return std::vector<int32_t>(t.data<int32_t>(), t.data<int32_t>() + t.numel());
  }
  Tensor raw(const std::string& name) const { return file_.tensor(name).clone(); }
  const std::string& where() const { return where_; }

  void check_all_used() const {
    for (const std::string& name : file_.names())
      if (!used_.count(name))
        fail("{}: unexpected tensor {} (not described by {})", where_, name, kQuantizationFile);
  }

 private:
  json meta_;
  std::string meta_path_;
  io::SafetensorsFile file_;
  std::string where_;
  std::set<std::string> used_;
};

// The optional rank-r side path of a linear (metadata "low_rank": r).
void read_low_rank(Reader& r, const json& m, const std::string& name, const std::string& at,
                   int64_t N, int64_t K, Linear& linear) {
  if (!m.contains("low_rank")) return;
  if (!m["low_rank"].is_number_integer() || m["low_rank"].get<int64_t>() < 1 ||
      m["low_rank"].get<int64_t>() > std::min(N, K))
    fail("{}.low_rank: {} is not a rank in [1, {}]", at, m["low_rank"].dump(), std::min(N, K));
  const int64_t rank = m["low_rank"].get<int64_t>();
  linear.low_rank_a = r.floats(name + ".low_rank_a", {rank, K}, "the low-rank path's A");
  linear.low_rank_b = r.floats(name + ".low_rank_b", {N, rank}, "the low-rank path's B");
}

Linear read_linear_body(Reader& r, const std::string& name, int64_t N, int64_t K);

Linear read_linear(Reader& r, const std::string& name, int64_t N, int64_t K) {
  Linear linear = read_linear_body(r, name, N, K);
  read_low_rank(r, r.layer_meta(name), name, r.meta_path() + ": layers." + name, N, K, linear);
  return linear;
}

Linear read_linear_body(Reader& r, const std::string& name, int64_t N, int64_t K) {
  const json& m = r.layer_meta(name);
  const std::string at = r.meta_path() + ": layers." + name;
  if (!m.contains("shape") || m["shape"] != json::array({N, K}))
    fail("{}: shape {} disagrees with config.json ([{}, {}])", at,
         m.contains("shape") ? m["shape"].dump() : "(none)", N, K);
  for (const char* key : {"quantized", "bias"})
    if (!m.contains(key) || !m[key].is_boolean()) fail("{}: no boolean \"{}\"", at, key);
  const bool has_bias = m["bias"].get<bool>();
  const bool quantized = m["quantized"].get<bool>();
  Linear linear;
  if (!quantized) {
    linear.weight = r.floats(name + ".weight", {N, K}, "an unquantized layer");
    if (has_bias) linear.bias = r.floats(name + ".bias", {N}, "the layer's bias");
    return linear;
  }
  if (!m.contains("weights")) fail("{}: no \"weights\" spec", at);
  const QuantSpec ws = spec_from_json(m["weights"], kWeightSpellings, at + ".weights");
  if (!ws.quantized()) fail("{}.weights: a quantized layer needs a quantized weight format", at);
  ws.check_divides(K, at + ".weights");
  const QuantSpec as = m.contains("activations")
                           ? spec_from_json(m["activations"], kActivationSpellings, at + ".activations")
                           : QuantSpec{};
  if (as.quantized()) as.check_divides(K, at + ".activations");

  const quant::FormatTraits wt = quant::format_traits(ws.format);
  const std::string described = fmt::format("{} codes of a [{}, {}] weight", quant::format_name(ws.format), N, K);
  quant::DensePacked packed;
  packed.bits = wt.storage_bits;
  packed.signed_codes = wt.signed_codes;
  packed.shape = {N, K};
  packed.rows = N;
  packed.cols = K;
  packed.words_per_row = quant::dense_words_per_row(K, wt.storage_bits);
  r.entry(name + ".qweight", {DType::I32}, {N, packed.words_per_row},
          fmt::format("{}, {}-bit dense packing", described, wt.storage_bits));
  packed.words = r.raw(name + ".qweight");
  const Tensor codes = quant::unpack_dense(packed);

  quant::QuantParams wp;
  wp.spec = ws;
  const Shape wshape = weight_step_shape(ws, N, K);
  wp.scale = r.f32_values(name + ".wscale", wshape, "the weight steps of " + quant::describe(ws));
  if (wt.zero_point)
    wp.zero_point = r.i32_values(name + ".wzero", wshape, "the weight zero-points of " + quant::describe(ws));

  quant::QuantParams in;
  in.spec = as;
  if (as.quantized() && !as.dynamic) {
    const Shape ashape = input_step_shape(as, K);
    in.scale = r.f32_values(name + ".ascale", ashape, "the static activation steps of " + quant::describe(as));
    if (quant::format_traits(as.format).zero_point)
      in.zero_point = r.i32_values(name + ".azero", ashape,
                                   "the static activation zero-points of " + quant::describe(as));
  }
  Tensor bias;
  if (has_bias) bias = r.floats(name + ".bias", {N}, "the layer's bias");
  try {
    linear.quantized = std::make_shared<const quant::QuantizedLinear>(in, wp, codes, bias, name);
  } catch (const Error& e) {
    fail("{}: {}", r.where(), e.what());
  }
  return linear;
}

// The widths and extras of one block's folds ("model.layers.L.folds" in the metadata; absent:
// none, every width from config.json).
struct BlockFolds {
  int64_t attn_channels = 0, mlp_channels = 0, mlp_width = 0;
  bool attn_norm_bias = false, mlp_norm_bias = false;
};

BlockFolds read_folds(Reader& r, const std::string& block, const ModelConfig& c) {
  BlockFolds f{c.dim, c.dim, c.hidden_dim, false, false};
  const std::string name = block + ".folds";
  if (!r.has_layer(name)) return f;
  const json& m = r.layer_meta(name);
  const std::string at = r.meta_path() + ": layers." + name;
  for (const auto& [key, value] : m.items()) {
    int64_t* width = key == "attn_channels" ? &f.attn_channels
                     : key == "mlp_channels" ? &f.mlp_channels
                     : key == "mlp_width"    ? &f.mlp_width
                                             : nullptr;
    if (width) {
      const int64_t least = key == "mlp_width" ? c.hidden_dim : c.dim;
      if (!value.is_number_integer() || value.get<int64_t>() < least ||
          value.get<int64_t>() > (int64_t(1) << 30))
        fail("{}.{}: {} is not a width of at least {}", at, key, value.dump(), least);
      *width = value.get<int64_t>();
    } else if (key == "attn_norm_bias" || key == "mlp_norm_bias") {
      if (!value.is_boolean()) fail("{}.{}: expected true or false", at, key);
      (key == "attn_norm_bias" ? f.attn_norm_bias : f.mlp_norm_bias) = value.get<bool>();
    } else {
      fail("{}: unknown key '{}'", at, key);
    }
  }
  return f;
}

// A norm's folded bias and channel map: the map when its output is wider than dim, each entry a
// channel of x.
void read_norm_extras(Reader& r, const std::string& norm, int64_t channels, bool has_bias,
                      int64_t dim, Tensor& bias, Tensor& map) {
  if (has_bias) bias = r.floats(norm + ".bias", {channels}, "a folded norm bias");
  if (channels == dim) return;
  const std::vector<int32_t> v = r.i32_values(norm + ".channels", {channels}, "a norm's channel map");
  for (size_t k = 0; k < v.size(); ++k)
    if (v[k] < 0 || v[k] >= dim)
      fail("{}: tensor {}.channels: entry {} is {}, outside [0, {})", r.where(), norm, k, v[k], dim);
  map = Tensor::empty({channels}, DType::I32);
  std::copy(v.begin(), v.end(), map.data<int32_t>());
}

// ---- writing ----------------------------------------------------------------------------------

class Writer {
 public:
  void floats(const std::string& name, const Tensor& t) { tensors_.emplace_back(name, narrowest_lossless(t)); }
  void exact(const std::string& name, Tensor t) { tensors_.emplace_back(name, std::move(t)); }

  json linear(const std::string& name, const Linear& l) {
    json m = linear_body(name, l);
    if (l.low_rank_a.defined()) {
      m["low_rank"] = l.low_rank_a.dim(0);
      floats(name + ".low_rank_a", l.low_rank_a);
      floats(name + ".low_rank_b", l.low_rank_b);
    }
    return m;
  }

  json linear_body(const std::string& name, const Linear& l) {
    json m = {{"shape", {l.out_features(), l.in_features()}}};
    if (!l.quantized) {
      BITFOLD_CHECK(l.weight.defined(), "{}: neither weights nor a quantized layer", name);
      m["quantized"] = false;
      m["bias"] = l.bias.defined();
      floats(name + ".weight", l.weight);
      if (l.bias.defined()) floats(name + ".bias", l.bias);
      return m;
    }
    const quant::QuantizedLinear& q = *l.quantized;
    const QuantSpec& ws = q.weight_params().spec;
    const QuantSpec& as = q.input().spec;
    const int64_t N = q.out_features(), K = q.in_features();
    m["quantized"] = true;
    m["bias"] = q.bias().defined();
    m["weights"] = spec_json(ws, kWeightSpellings);
    m["activations"] = spec_json(as, kActivationSpellings);
    const quant::FormatTraits wt = quant::format_traits(ws.format);
    exact(name + ".qweight", quant::pack_dense(q.weight_codes(), wt.storage_bits).words);
    const Shape wshape = weight_step_shape(ws, N, K);
    exact(name + ".wscale", Tensor::from_floats(q.weight_params().scale, wshape));
    if (wt.zero_point) exact(name + ".wzero", i32_tensor(q.weight_params().zero_point, wshape));
    if (as.quantized() && !as.dynamic) {
      const Shape ashape = input_step_shape(as, K);
      exact(name + ".ascale", Tensor::from_floats(q.input().scale, ashape));
      if (!q.input().zero_point.empty()) exact(name + ".azero", i32_tensor(q.input().zero_point, ashape));
    }
    if (q.bias().defined()) exact(name + ".bias", q.bias());
    return m;
  }

  json kv(const std::string& name, const KvCacheQuant& kv, int64_t kv_dim) {
    json m = spec_json(kv.key.spec, kKvSpellings);
    if (!kv.key.spec.dynamic) {
      const Shape shape = kv_step_shape(kv.key.spec, kv_dim);
      exact(name + ".k_cache.scale", Tensor::from_floats(kv.key.scale, shape));
      exact(name + ".v_cache.scale", Tensor::from_floats(kv.value.scale, shape));
      if (!kv.key.zero_point.empty()) {
        exact(name + ".k_cache.zero", i32_tensor(kv.key.zero_point, shape));
        exact(name + ".v_cache.zero", i32_tensor(kv.value.zero_point, shape));
      }
    }
    return m;
  }

  const std::vector<io::NamedTensor>& tensors() const { return tensors_; }

 private:
  std::vector<io::NamedTensor> tensors_;
};

}  // namespace

bool is_quantized_checkpoint(const fs::path& path) {
  std::error_code ec;
  return fs::is_directory(path, ec) && fs::is_regular_file(path / kQuantizationFile, ec);
}

json source_model_info(const fs::path& model_path) {
  std::vector<fs::path> files;
  std::error_code ec;
  if (fs::is_directory(model_path, ec)) {
    for (const auto& e : fs::directory_iterator(model_path)) {
      const std::string name = e.path().filename().string();
      if (e.path().extension() == ".safetensors" || name == "model.safetensors.index.json")
        files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
  } else {
    files.push_back(model_path);
  }
  json list = json::array();
  for (const fs::path& f : files)
    list.push_back({{"name", f.filename().string()}, {"sha256", sha256_file(f)}});
  return {{"path", model_path.string()}, {"files", list}};
}

json read_quantization_metadata(const fs::path& dir) {
  const fs::path path = dir / kQuantizationFile;
  json meta;
  try {
    meta = json::parse(read_text_file(path));
  } catch (const json::parse_error& e) {
    fail("{}: malformed JSON: {}", path.string(), e.what());
  }
  if (!meta.is_object()) fail("{}: expected a JSON object", path.string());
  if (!meta.contains("format") || meta["format"] != kFormatName)
    fail("{}: \"format\" is not \"{}\"", path.string(), kFormatName);
  if (!meta.contains("format_version") || !meta["format_version"].is_number_integer())
    fail("{}: no integer \"format_version\"", path.string());
  const int64_t version = meta["format_version"].get<int64_t>();
  if (version != kQuantizedFormatVersion)
    fail("{}: unknown format version {} (this bitfold reads version {})", path.string(), version,
         kQuantizedFormatVersion);
  return meta;
}

void check_checkpoint_target(const fs::path& out_dir) {
  std::error_code ec;
  if (fs::exists(out_dir, ec) && (!fs::is_directory(out_dir, ec) ||
                                  (!fs::is_empty(out_dir, ec) && !is_quantized_checkpoint(out_dir))))
    fail("{}: exists and is not a quantized checkpoint (no {}); refusing to replace it",
         out_dir.string(), kQuantizationFile);
}

void write_quantized_checkpoint(const LlamaWeights& weights, const fs::path& out_dir,
                                const QuantizedCheckpointInfo& info, const fs::path& tokenizer) {
  const std::string out = out_dir.string();
  std::error_code ec;
  check_checkpoint_target(out_dir);
  const ModelConfig& c = weights.config;
  if (int(weights.layers.size()) != c.n_layers)
    fail("{}: cannot write a model with {} layers whose config says {}", out, weights.layers.size(),
         c.n_layers);
  std::optional<text::TokenizerKind> kind;
  if (!tokenizer.empty()) kind = text::detect_tokenizer_kind(tokenizer);

  Writer w;
  json layers = json::object();
  w.floats("model.embed_tokens.weight", weights.token_embedding);
  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& b = weights.layers[size_t(l)];
    const std::string block = fmt::format("model.layers.{}", l);
    w.floats(block + ".input_layernorm.weight", b.attn_norm);
    w.floats(block + ".post_attention_layernorm.weight", b.ffn_norm);
    // Folded transforms (docs/transforms.md): norm biases, channel maps, a wider MLP.
    json folds = json::object();
    const auto norm_extras = [&](const std::string& norm, const char* key, const Tensor& bias,
                                 const Tensor& channels, const Tensor& gamma) {
      if (channels.defined()) {
        folds[std::string(key) + "_channels"] = gamma.numel();
        w.exact(block + "." + norm + ".channels", channels.clone());
      }
      if (bias.defined()) {
        folds[std::string(key) + "_norm_bias"] = true;
        w.floats(block + "." + norm + ".bias", bias);
      }
    };
    norm_extras("input_layernorm", "attn", b.attn_norm_bias, b.attn_norm_channels, b.attn_norm);
    norm_extras("post_attention_layernorm", "mlp", b.ffn_norm_bias, b.ffn_norm_channels, b.ffn_norm);
    if (b.gate.out_features() != c.hidden_dim) folds["mlp_width"] = b.gate.out_features();
    if (!folds.empty()) layers[block + ".folds"] = folds;
    if (b.kv_quant) layers[block + ".self_attn.kv_cache"] = w.kv(block + ".self_attn", *b.kv_quant, c.kv_dim());
  }
  for_each_linear(weights, [&](const std::string& name, const Linear& l) { layers[name] = w.linear(name, l); });
  w.floats("model.norm.weight", weights.final_norm);
  if (weights.lm_head.quantized || !c.tied_embeddings) layers["lm_head"] = w.linear("lm_head", weights.lm_head);

  json meta = {{"format", kFormatName},
               {"format_version", kQuantizedFormatVersion},
               {"bitfold_version", std::string(kVersion)},
               {"recipe", info.recipe},
               {"calibration", info.calibration},
               {"source_model", info.source_model},
               {"layers", layers}};

  AtomicDirectory dir(out_dir);
  write_file_atomically(dir.path() / "config.json", hf_config_json(c, DType::F32));
  io::write_safetensors(dir.path() / kQuantizedTensorsFile, w.tensors(),
                        {{"format", std::string(kFormatName)}});
  write_file_atomically(dir.path() / kQuantizationFile, meta.dump(2) + "\n");
  if (kind) {
    const fs::path to = dir.path() / text::tokenizer_file_name(*kind);
    fs::copy_file(tokenizer, to, ec);
    if (ec) fail("{}: cannot copy to {}: {}", tokenizer.string(), to.string(), ec.message());
    fs::permissions(to, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::add, ec);
  }
  dir.commit();
}

LlamaWeights load_quantized_checkpoint(const fs::path& dir) {
  Reader r(dir, read_quantization_metadata(dir));
  LlamaWeights w;
  w.config = read_hf_config(dir / "config.json");
  const ModelConfig& c = w.config;
  w.layers.resize(size_t(c.n_layers));
  std::vector<BlockFolds> widths(size_t(c.n_layers));
  w.token_embedding = r.floats("model.embed_tokens.weight", {c.vocab_size, c.dim}, "the embedding");
  for (int l = 0; l < c.n_layers; ++l) {
    LayerWeights& b = w.layers[size_t(l)];
    const std::string block = fmt::format("model.layers.{}", l);
    const BlockFolds f = read_folds(r, block, c);
    widths[size_t(l)] = f;
    b.attn_norm = r.floats(block + ".input_layernorm.weight", {f.attn_channels}, "a norm");
    b.ffn_norm = r.floats(block + ".post_attention_layernorm.weight", {f.mlp_channels}, "a norm");
    read_norm_extras(r, block + ".input_layernorm", f.attn_channels, f.attn_norm_bias, c.dim,
                     b.attn_norm_bias, b.attn_norm_channels);
    read_norm_extras(r, block + ".post_attention_layernorm", f.mlp_channels, f.mlp_norm_bias,
                     c.dim, b.ffn_norm_bias, b.ffn_norm_channels);
    const std::string kv_name = block + ".self_attn.kv_cache";
    if (r.has_layer(kv_name)) {
      const std::string at = r.meta_path() + ": layers." + kv_name;
      QuantSpec spec = spec_from_json(r.layer_meta(kv_name), kKvSpellings, at);
      if (spec.granularity == Granularity::Head && spec.group_size != c.head_dim)
        fail("{}: head size {} disagrees with config.json's head_dim {}", at, spec.group_size, c.head_dim);
      auto kv = std::make_shared<KvCacheQuant>();
      kv->key.spec = kv->value.spec = spec;
      if (!spec.dynamic) {
        const Shape shape = kv_step_shape(spec, c.kv_dim());
        const int64_t cols = spec.granularity == Granularity::Head ? c.kv_dim() : 0;
        kv->key.cols = kv->value.cols = cols;
        kv->key.scale = r.f32_values(block + ".self_attn.k_cache.scale", shape, "the key cache steps");
        kv->value.scale = r.f32_values(block + ".self_attn.v_cache.scale", shape, "the value cache steps");
        if (quant::format_traits(spec.format).zero_point) {
          kv->key.zero_point = r.i32_values(block + ".self_attn.k_cache.zero", shape, "the key cache zero-points");
          kv->value.zero_point = r.i32_values(block + ".self_attn.v_cache.zero", shape, "the value cache zero-points");
        }
        for (float s : kv->key.scale)
          if (!(s > 0)) fail("{}: a key cache step is {}, not positive", r.where(), s);
        for (float s : kv->value.scale)
          if (!(s > 0)) fail("{}: a value cache step is {}, not positive", r.where(), s);
      }
      b.kv_quant = kv;
    }
  }
  for_each_linear(w, [&](const std::string& name, Linear& l) {
    int64_t N = 0, K = 0;
    const size_t dot = name.find('.', std::string("model.layers.").size());
    const BlockFolds& f = widths[size_t(std::stoi(name.substr(13, dot - 13)))];
    const std::string local = name.substr(dot + 1);
    if (local == "self_attn.q_proj") { N = c.q_dim(); K = f.attn_channels; }
    else if (local == "self_attn.k_proj" || local == "self_attn.v_proj") { N = c.kv_dim(); K = f.attn_channels; }
    else if (local == "self_attn.o_proj") { N = c.dim; K = c.q_dim(); }
    else if (local == "mlp.down_proj") { N = c.dim; K = f.mlp_width; }
    else { N = f.mlp_width; K = f.mlp_channels; }
    l = read_linear(r, name, N, K);
  });
  w.final_norm = r.floats("model.norm.weight", {c.dim}, "the final norm");
  if (r.has_layer("lm_head")) w.lm_head = read_linear(r, "lm_head", c.vocab_size, c.dim);
  else if (c.tied_embeddings) w.lm_head.weight = w.token_embedding;
  else fail("{}: layers: no entry for lm_head (config.json says the embeddings are not tied)", r.meta_path());
  r.check_all_used();
  return w;
}

}  // namespace bitfold::model
