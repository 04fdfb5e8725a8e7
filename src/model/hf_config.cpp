#include "model/hf_config.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>
#include <optional>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/printable.h"

namespace bitfold::model {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

namespace {

// Differences between the supported families, as transformers' config classes define them.
struct FamilyDefaults {
  const char* model_type;
  const char* architecture;
  int max_position_embeddings;
  float rms_norm_eps;
  bool qkv_bias;
  int bos_id;                // -1: none
  std::vector<int> eos_ids;  // empty: none
};

const FamilyDefaults* family(const std::string& model_type) {
  static const FamilyDefaults families[] = {
      {"llama", "LlamaForCausalLM", 2048, 1e-6f, false, 1, {2}},
      {"mistral", "MistralForCausalLM", 131072, 1e-6f, false, 1, {2}},
      {"qwen2", "Qwen2ForCausalLM", 32768, 1e-6f, true, -1, {}},
  };
  for (const auto& f : families)
    if (model_type == f.model_type) return &f;
  return nullptr;
}

class Reader {
 public:
  Reader(const json& root, const std::string& where) : root_(root), where_(where) {}

  bool has(const char* key) const { return root_.contains(key) && !root_[key].is_null(); }

  int positive_int(const char* key, std::optional<int> fallback = std::nullopt) const {
    if (!has(key)) {
      if (fallback) return *fallback;
      fail("{}: missing {}", where_, key);
    }
    const json& v = root_[key];
    if (!v.is_number_integer() || v.get<int64_t>() <= 0 || v.get<int64_t>() > (int64_t(1) << 30))
      fail("{}: {} must be a positive integer, got {}", where_, key, v.dump());
    return v.get<int>();
  }

  float positive_float(const char* key, float fallback) const {
    if (!has(key)) return fallback;
    const json& v = root_[key];
    if (!v.is_number() || !(v.get<double>() > 0) || !std::isfinite(v.get<double>()))
      fail("{}: {} must be a positive number, got {}", where_, key, v.dump());
    return v.get<float>();
  }

  bool boolean(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    if (!root_[key].is_boolean())
      fail("{}: {} must be true or false, got {}", where_, key, root_[key].dump());
    return root_[key].get<bool>();
  }

  std::string string(const char* key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    if (!root_[key].is_string())
      fail("{}: {} must be a string, got {}", where_, key, root_[key].dump());
    return root_[key].get<std::string>();
  }

  // An id or a list of ids (eos_token_id may be either); nullopt when absent or null.
  std::optional<std::vector<int>> ids(const char* key) const {
    if (!has(key)) return std::nullopt;
    const json& v = root_[key];
    std::vector<int> out;
    const auto take = [&](const json& x) {
      if (!x.is_number_integer() || x.get<int64_t>() < 0 || x.get<int64_t>() > (int64_t(1) << 30))
        fail("{}: {} must be a token id or a list of them, got {}", where_, key, v.dump());
      out.push_back(x.get<int>());
    };
    if (v.is_array())
      for (const json& x : v) take(x);
    else
      take(v);
    return out;
  }

 private:
  const json& root_;
  const std::string& where_;
};

}  // namespace

ModelConfig parse_hf_config(const std::string& text, const std::string& where) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::parse_error& e) {
    fail("{}: not valid JSON (error at byte {})", where, e.byte);
  }
  if (!root.is_object()) fail("{}: not a JSON object", where);
  const Reader r(root, where);

  const std::string model_type = r.string("model_type", "");
  const FamilyDefaults* f = family(model_type);
  if (!f)
    fail("{}: model_type \"{}\" is not supported (supported: llama, mistral, qwen2)", where,
         printable(model_type));
  if (r.has("architectures")) {
    const json& archs = root["architectures"];
    if (!archs.is_array() || archs.size() != 1 || archs[0] != f->architecture)
      fail("{}: architectures {} is not supported for model_type {} (expected [\"{}\"])", where,
           archs.dump(), model_type, f->architecture);
  }
  if (r.has("rope_scaling")) {
    const json& s = root["rope_scaling"];
    const std::string type =
        s.is_object() ? s.value("rope_type", s.value("type", std::string("?"))) : s.dump();
    fail("{}: rope_scaling of type {} is not supported (bitfold's RoPE has no frequency scaling)",
         where, printable(type));
  }
  if (const std::string act = r.string("hidden_act", "silu"); act != "silu")
    fail("{}: hidden_act {} is not supported (only silu)", where, printable(act));
  for (const char* key : {"attention_bias", "mlp_bias"})
    if (r.boolean(key, false)) fail("{}: {} = true is not supported", where, key);
  if (model_type == "qwen2" && r.boolean("use_sliding_window", false))
    fail("{}: use_sliding_window = true is not supported", where);

  ModelConfig c;
  c.architecture = model_type;
  c.dim = r.positive_int("hidden_size");
  c.hidden_dim = r.positive_int("intermediate_size");
  c.n_layers = r.positive_int("num_hidden_layers");
  c.n_heads = r.positive_int("num_attention_heads");
  c.n_kv_heads = r.positive_int("num_key_value_heads", c.n_heads);
  if (!r.has("head_dim") && c.dim % c.n_heads != 0)
    fail("{}: hidden_size {} is not a multiple of num_attention_heads {} (and no head_dim given)",
         where, c.dim, c.n_heads);
  c.head_dim = r.positive_int("head_dim", c.dim / c.n_heads);
  if (c.n_heads % c.n_kv_heads != 0)
    fail("{}: num_attention_heads {} is not a multiple of num_key_value_heads {}", where, c.n_heads,
         c.n_kv_heads);
  if (c.head_dim % 2 != 0) fail("{}: head_dim {} is odd (RoPE rotates pairs)", where, c.head_dim);
  c.vocab_size = r.positive_int("vocab_size");
  c.max_seq_len = r.positive_int("max_position_embeddings", f->max_position_embeddings);
  if (model_type == "mistral") {
    // transformers' MistralConfig default window is 4096; files may set it or null it.
    int window = 4096;
    if (root.contains("sliding_window"))
      window = root["sliding_window"].is_null() ? 0 : r.positive_int("sliding_window");
    if (window > 0 && window < c.max_seq_len) c.max_seq_len = window;
  }
  c.rope_theta = r.positive_float("rope_theta", 10000.0f);
  // transformers 5 writes {"rope_parameters": {"rope_theta": θ, "rope_type": "default"}} and no
  // top-level rope_theta. Only the default (unscaled) type is supported, as for rope_scaling.
  if (r.has("rope_parameters")) {
    const json& p = root["rope_parameters"];
    if (!p.is_object()) fail("{}: rope_parameters must be an object, got {}", where, p.dump());
    const std::string type = p.value("rope_type", p.value("type", std::string("default")));
    if (type != "default")
      fail("{}: rope_parameters of type {} is not supported (bitfold's RoPE has no frequency "
           "scaling)", where, type);
    if (p.contains("rope_theta") && !p["rope_theta"].is_null()) {
      const Reader pr(p, where);
      const float theta = pr.positive_float("rope_theta", 0.0f);
      if (r.has("rope_theta") && theta != c.rope_theta)
        fail("{}: rope_theta {} and rope_parameters.rope_theta {} disagree", where, c.rope_theta,
             theta);
      c.rope_theta = theta;
    }
  }
  c.norm_eps = r.positive_float("rms_norm_eps", f->rms_norm_eps);
  c.tied_embeddings = r.boolean("tie_word_embeddings", false);
  c.qkv_bias = f->qkv_bias;
  // An explicit null means "none"; absent means the family's default.
  const auto bos = r.ids("bos_token_id");
  if (bos && bos->size() != 1) fail("{}: bos_token_id must be one token id", where);
  const bool bos_null = root.contains("bos_token_id") && root["bos_token_id"].is_null();
  c.bos_id = bos ? (*bos)[0] : bos_null ? -1 : f->bos_id;
  const bool eos_null = root.contains("eos_token_id") && root["eos_token_id"].is_null();
  c.eos_ids = r.ids("eos_token_id").value_or(eos_null ? std::vector<int>{} : f->eos_ids);
  return c;
}

ModelConfig read_hf_config(const std::filesystem::path& config_json) {
  std::error_code ec;
  if (!std::filesystem::exists(config_json, ec))
    fail("{}: missing (a Hugging Face model directory needs config.json)", config_json.string());
  return parse_hf_config(read_text_file(config_json), config_json.string());
}

namespace {

// The float as the shortest decimal that reads back to it (1e-05, not 9.999999747378752e-06).
double decimal(float f) { return std::stod(fmt::format("{}", f)); }

const char* torch_dtype_name(DType d) {
  switch (d) {
    case DType::F32:
      return "float32";
    case DType::F16:
      return "float16";
    case DType::BF16:
      return "bfloat16";
    case DType::F64:
      return "float64";
    default:
      return "float32";
  }
}

}  // namespace

std::string hf_config_json(const ModelConfig& c, DType stored_as) {
  const FamilyDefaults* f = family(c.architecture);
  if (!f) fail("cannot write config.json for architecture {}", c.architecture);
  ordered_json j;
  j["architectures"] = {f->architecture};
  j["model_type"] = c.architecture;
  j["hidden_size"] = c.dim;
  j["intermediate_size"] = c.hidden_dim;
  j["num_hidden_layers"] = c.n_layers;
  j["num_attention_heads"] = c.n_heads;
  j["num_key_value_heads"] = c.n_kv_heads;
  if (c.head_dim * c.n_heads != c.dim) j["head_dim"] = c.head_dim;
  j["vocab_size"] = c.vocab_size;
  j["max_position_embeddings"] = c.max_seq_len;
  j["rms_norm_eps"] = decimal(c.norm_eps);
  j["rope_theta"] = decimal(c.rope_theta);
  j["tie_word_embeddings"] = c.tied_embeddings;
  j["hidden_act"] = "silu";
  if (c.architecture == "mistral") j["sliding_window"] = nullptr;  // max_seq_len already capped
  if (c.bos_id >= 0)
    j["bos_token_id"] = c.bos_id;
  else
    j["bos_token_id"] = nullptr;
  if (c.eos_ids.size() == 1)
    j["eos_token_id"] = c.eos_ids[0];
  else if (c.eos_ids.empty())
    j["eos_token_id"] = nullptr;
  else
    j["eos_token_id"] = c.eos_ids;
  j["torch_dtype"] = torch_dtype_name(stored_as);
  return j.dump(2) + "\n";
}

}  // namespace bitfold::model
