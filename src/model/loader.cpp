#include "model/loader.h"

#include "core/error.h"
#include "io/llama2c.h"
#include "io/safetensors_dir.h"
#include "model/hf_config.h"
#include "model/hf_layout.h"
#include "model/quantized_checkpoint.h"
#include "model/rope_layout.h"

namespace bitfold::model {

namespace fs = std::filesystem;

namespace {

struct Source {
  bool hf = false;  // else a llama2.c checkpoint
  fs::path path;    // the HF directory or the .bin file
};

// A directory is a Hugging Face model; so is the directory of a config.json or *.safetensors
// path; any other file is a llama2.c checkpoint.
Source locate(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) fail("{}: does not exist", path.string());
  if (fs::is_directory(path, ec)) return {true, path};
  const std::string name = path.filename().string();
  if (name == "config.json" || name == "model.safetensors.index.json" ||
      path.extension() == ".safetensors") {
    const fs::path dir = path.parent_path();
    return {true, dir.empty() ? fs::path(".") : dir};
  }
  return {false, path};
}

ModelConfig config_from_llama2c(const io::Llama2cHeader& h) {
  ModelConfig c;
  c.architecture = "llama";
  c.dim = h.dim;
  c.hidden_dim = h.hidden_dim;
  c.n_layers = h.n_layers;
  c.n_heads = h.n_heads;
  c.n_kv_heads = h.n_kv_heads;
  c.head_dim = h.head_size();
  c.vocab_size = h.vocab_size;
  c.max_seq_len = h.seq_len;
  c.rope_theta = 10000.0f;  // what llama2.c trains and exports with
  c.norm_eps = 1e-5f;       // run.c's rmsnorm
  c.tied_embeddings = h.shared_classifier;
  c.qkv_bias = false;
  c.bos_id = 1;
  c.eos_ids = {2};
  return c;
}

bool is_floating(DType d) {
  return d == DType::F32 || d == DType::F16 || d == DType::BF16 || d == DType::F64;
}

// An owned F32 copy of `name`, after checking it against the shape config.json implies.
Tensor load_f32(const io::SafetensorsDirectory& tensors, const std::string& name,
                const Shape& expected) {
  if (!tensors.contains(name))
    fail("{}: tensor {} is missing (config.json implies shape {})", tensors.dir().string(), name,
         shape_str(expected));
  const io::SafetensorsFile& file = tensors.file_of(name);
  const io::SafetensorsEntry& e = file.entry(name);
  if (e.shape != expected)
    fail("{}: tensor {} has shape {}, config.json implies {}", file.path().string(), name,
         shape_str(e.shape), shape_str(expected));
  if (!is_floating(e.dtype))
    fail("{}: tensor {} has dtype {}, expected a floating-point dtype (F32, F16, BF16, F64)",
         file.path().string(), name, dtype_name(e.dtype));
  const Tensor view = file.tensor(name);
  return view.dtype() == DType::F32 ? view.clone() : view.to(DType::F32);
}

LlamaWeights load_hf(const fs::path& dir) {
  LlamaWeights w;
  w.config = read_hf_config(dir / "config.json");
  const auto tensors = io::SafetensorsDirectory::open(dir);
  w.layers.resize(size_t(w.config.n_layers));
  for_each_hf_tensor(w, [&](const std::string& name, const Shape& shape, Tensor& slot) {
    slot = load_f32(tensors, name, shape);
  });
  if (w.config.tied_embeddings) w.lm_head.weight = w.token_embedding;
  return w;
}

// Layer `l` of a [n_layers, ...] stack, as a view.
Tensor layer_of(const Tensor& stacked, int l) {
  const Shape inner(stacked.shape().begin() + 1, stacked.shape().end());
  return stacked.slice_rows(l, l + 1).view(inner);
}

LlamaWeights load_llama2c(const fs::path& path) {
  const io::Llama2cCheckpoint ck = io::open_llama2c(path);
  LlamaWeights w;
  w.config = config_from_llama2c(ck.header);
  const ModelConfig& c = w.config;
  w.token_embedding = ck.token_embedding.clone();
  w.layers.resize(size_t(c.n_layers));
  for (int l = 0; l < c.n_layers; ++l) {
    LayerWeights& layer = w.layers[size_t(l)];
    layer.attn_norm = layer_of(ck.rms_att, l).clone();
    layer.q.weight = interleaved_to_rotate_half(layer_of(ck.wq, l), c.n_heads);
    layer.k.weight = interleaved_to_rotate_half(layer_of(ck.wk, l), c.n_kv_heads);
    layer.v.weight = layer_of(ck.wv, l).clone();
    layer.o.weight = layer_of(ck.wo, l).clone();
    layer.ffn_norm = layer_of(ck.rms_ffn, l).clone();
    layer.gate.weight = layer_of(ck.w1, l).clone();
    layer.down.weight = layer_of(ck.w2, l).clone();
    layer.up.weight = layer_of(ck.w3, l).clone();
  }
  w.final_norm = ck.rms_final.clone();
  w.lm_head.weight = c.tied_embeddings ? w.token_embedding : ck.wcls.clone();
  return w;
}

}  // namespace

ModelConfig load_config(const fs::path& path) {
  const Source s = locate(path);
  if (s.hf) return read_hf_config(s.path / "config.json");
  return config_from_llama2c(io::read_llama2c_header(s.path));
}

LlamaWeights load_weights(const fs::path& path) {
  if (is_quantized_checkpoint(path)) return load_quantized_checkpoint(path);
  const Source s = locate(path);
  return s.hf ? load_hf(s.path) : load_llama2c(s.path);
}

}  // namespace bitfold::model
