// Quantized checkpoints: a model with every kind of quantized layer written and read back gives
// bit-identical logits and its metadata; a file whose metadata and tensors disagree is refused
// with one line naming the file and the tensor (one test per case).
#include <gtest/gtest.h>

#include <fstream>

#include "core/sha256.h"
#include "file_fixtures.h"
#include "io/safetensors.h"
#include "model/llama.h"
#include "model/loader.h"
#include "model/quantized_checkpoint.h"
#include "random_model.h"
#include "test_support.h"

namespace bitfold::model {
namespace {

namespace fs = std::filesystem;
using quant::Granularity;
using nlohmann::json;

quant::QuantSpec spec(const char* format, Granularity g, bool dynamic = false, int64_t group = 0) {
  quant::QuantSpec s;
  s.format = quant::parse_format(format);
  s.granularity = g;
  s.dynamic = dynamic;
  s.group_size = group;
  return s;
}

// A static input quantizer fitted on random "calibration" data of K columns.
quant::QuantParams static_input(const quant::QuantSpec& s, int64_t K, uint32_t seed) {
  std::mt19937 rng(seed);
  const Tensor calib = testing::random_tensor({16, K}, rng, 2.0f);
  return quant::fit_params(s, calib);
}

void quantize(Linear& l, const quant::QuantParams& in, const quant::QuantSpec& ws) {
  l.quantized = std::make_shared<const quant::QuantizedLinear>(quant::quantize_linear(l.weight, l.bias, in, ws, "l"));
}

quant::QuantParams dynamic_input(const quant::QuantSpec& s) {
  quant::QuantParams p;
  p.spec = s;
  return p;
}

// Every kind of layer the checkpoint must carry.
LlamaWeights mixed_model(bool tied) {
  LlamaWeights w = testing::random_model({.tied = tied, .bias = true}, 17);
  const ModelConfig& c = w.config;
  LayerWeights& b0 = w.layers[0];
  quantize(b0.q, static_input(spec("uint8", Granularity::InputChannel), c.dim, 1), spec("uint4", Granularity::Group, false, 8));
  quantize(b0.k, static_input(spec("int8", Granularity::Tensor), c.dim, 2), spec("int8", Granularity::OutputChannel));
  quantize(b0.v, quant::QuantParams{}, spec("int4", Granularity::OutputChannel));
  quantize(b0.o, dynamic_input(spec("int6", Granularity::Token, true)), spec("int6", Granularity::OutputChannel));
  quantize(b0.up, static_input(spec("e2m1", Granularity::InputChannel), c.dim, 3), spec("e2m1", Granularity::OutputChannel));
  quantize(b0.down, dynamic_input(spec("int8", Granularity::Group, true, 8)), spec("int4", Granularity::Group, false, 8));
  // b0.gate stays FP; block 1 is weight-only int2-bitbalanced per tensor.
  for (Linear* l : {&w.layers[1].q, &w.layers[1].k, &w.layers[1].v, &w.layers[1].o, &w.layers[1].gate,
                    &w.layers[1].up, &w.layers[1].down})
    quantize(*l, quant::QuantParams{}, spec("int2-bitbalanced", Granularity::Tensor));
  quantize(w.lm_head, dynamic_input(spec("int8", Granularity::Tensor, true)), spec("int8", Granularity::OutputChannel));
  std::mt19937 rng(5);
  auto kv0 = std::make_shared<KvCacheQuant>();
  const quant::QuantSpec head = spec("uint8", Granularity::Head, false, c.head_dim);
  kv0->key = quant::fit_params(head, testing::random_tensor({8, c.kv_dim()}, rng, 3.0f));
  kv0->value = quant::fit_params(head, testing::random_tensor({8, c.kv_dim()}, rng, 3.0f));
  b0.kv_quant = kv0;
  auto kv1 = std::make_shared<KvCacheQuant>();
  kv1->key.spec = kv1->value.spec = spec("int8", Granularity::Token, true);
  w.layers[1].kv_quant = kv1;
  return w;
}

QuantizedCheckpointInfo info() {
  QuantizedCheckpointInfo i;
  i.recipe = {{"method", "rtn"}};
  i.calibration = {{"source", "calib.txt"}, {"seed", 3}, {"samples", 4}, {"length", 16}};
  i.source_model = {{"path", "random"}, {"files", json::array()}};
  return i;
}

Tensor logits(const LlamaWeights& w) {
  const std::vector<int32_t> tokens = {1, 4, 9, 16, 25, 36, 3};
  KVCache cache(w.config, int(tokens.size()));
  return forward(w, tokens, 0, cache, Logits::All);
}

TEST(QuantizedCheckpoint, RoundTripGivesBitIdenticalLogitsAndMetadata) {
  for (bool tied : {false, true}) {
    const auto dir = testing::scratch_dir(tied ? "qckpt_tied" : "qckpt");
    const LlamaWeights w = mixed_model(tied);
    write_quantized_checkpoint(w, dir / "out", info());
    ASSERT_TRUE(is_quantized_checkpoint(dir / "out"));
    const LlamaWeights back = load_weights(dir / "out");  // the CLI's entry point
    ASSERT_TRUE(back.layers[0].q.quantized);
    EXPECT_FALSE(back.layers[0].q.weight.defined());
    EXPECT_FALSE(back.layers[0].gate.quantized);
    ASSERT_TRUE(back.layers[0].kv_quant);
    EXPECT_EQ(back.layers[0].kv_quant->key.scale, w.layers[0].kv_quant->key.scale);
    EXPECT_EQ(back.layers[0].kv_quant->value.zero_point, w.layers[0].kv_quant->value.zero_point);
    EXPECT_TRUE(back.layers[1].kv_quant->key.spec.dynamic);
    const Tensor a = logits(w), b = logits(back);
    for (int64_t e = 0; e < a.numel(); ++e) ASSERT_EQ(a.f32()[e], b.f32()[e]) << e;

    const json meta = read_quantization_metadata(dir / "out");
    EXPECT_EQ(meta["format_version"], kQuantizedFormatVersion);
    EXPECT_EQ(meta["bitfold_version"], "0.1.0");
    EXPECT_EQ(meta["recipe"]["method"], "rtn");
    EXPECT_EQ(meta["calibration"]["seed"], 3);
    EXPECT_EQ(meta["layers"]["model.layers.0.self_attn.q_proj"]["weights"]["format"], "uint4");
    EXPECT_EQ(meta["layers"]["model.layers.0.self_attn.q_proj"]["activations"]["granularity"], "static-channel");
    EXPECT_EQ(meta["layers"]["model.layers.0.mlp.gate_proj"]["quantized"], false);
  }
}

TEST(QuantizedCheckpoint, FloatTensorsAreStoredLosslesslyAndNarrow) {
  const auto dir = testing::scratch_dir("qckpt_narrow");
  LlamaWeights w = mixed_model(false);
  // An embedding of F16 values is stored as F16; the random (F32) norms stay F32.
  w.token_embedding = w.token_embedding.to(DType::F16).to(DType::F32);
  write_quantized_checkpoint(w, dir / "out", info());
  const io::SafetensorsFile f = io::SafetensorsFile::open(dir / "out" / std::string(kQuantizedTensorsFile));
  EXPECT_EQ(f.entry("model.embed_tokens.weight").dtype, DType::F16);
  EXPECT_EQ(f.entry("model.norm.weight").dtype, DType::F32);
  EXPECT_EQ(f.entry("model.layers.0.self_attn.q_proj.qweight").dtype, DType::I32);
  const LlamaWeights back = load_weights(dir / "out");
  EXPECT_EQ(std::memcmp(back.token_embedding.raw(), w.token_embedding.raw(), w.token_embedding.nbytes()), 0);
}

// ---- refusals --------------------------------------------------------------------------------

class BadCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::scratch_dir(::testing::UnitTest::GetInstance()->current_test_info()->name()) / "out";
    write_quantized_checkpoint(mixed_model(false), dir_, info());
  }
  fs::path tensors() const { return dir_ / std::string(kQuantizedTensorsFile); }
  fs::path metadata() const { return dir_ / std::string(kQuantizationFile); }

  // Rewrites the tensor file through `edit`.
  void edit_tensors(const std::function<void(std::vector<io::NamedTensor>&)>& edit) {
    std::vector<io::NamedTensor> all;
    {
      const io::SafetensorsFile f = io::SafetensorsFile::open(tensors());
      for (const std::string& n : f.names()) all.emplace_back(n, f.tensor(n).clone());
    }
    edit(all);
    io::write_safetensors(tensors(), all);
  }
  void edit_metadata(const std::function<void(json&)>& edit) {
    json m = json::parse(testing::read_bytes(metadata()));
    edit(m);
    testing::write_bytes(metadata(), m.dump(2));
  }
  void expect_refused(std::initializer_list<std::string> parts) {
    testing::expect_error([&] { load_weights(dir_); }, parts);
  }

  fs::path dir_;
};

TEST_F(BadCheckpoint, WrongCodeCountForBitsTimesShape) {
  edit_tensors([](std::vector<io::NamedTensor>& all) {
    for (auto& [name, t] : all)
      if (name == "model.layers.0.self_attn.k_proj.qweight") t = t.view({t.dim(0) * 2, t.dim(1) / 2});
  });
  expect_refused({tensors().string(), "model.layers.0.self_attn.k_proj.qweight", "has shape",
                  "int8 codes of a [16, 32] weight, 8-bit dense packing"});
}

TEST_F(BadCheckpoint, MissingScale) {
  edit_tensors([](std::vector<io::NamedTensor>& all) {
    std::erase_if(all, [](const io::NamedTensor& t) { return t.first == "model.layers.0.mlp.down_proj.wscale"; });
  });
  expect_refused({tensors().string(), "model.layers.0.mlp.down_proj.wscale is missing", "weight steps"});
}

TEST_F(BadCheckpoint, MissingStaticActivationStep) {
  edit_tensors([](std::vector<io::NamedTensor>& all) {
    std::erase_if(all, [](const io::NamedTensor& t) { return t.first == "model.layers.0.self_attn.q_proj.ascale"; });
  });
  expect_refused({tensors().string(), "model.layers.0.self_attn.q_proj.ascale is missing"});
}

TEST_F(BadCheckpoint, UnknownFormatVersion) {
  edit_metadata([](json& m) { m["format_version"] = 2; });
  expect_refused({metadata().string(), "unknown format version 2", "reads version 1"});
}

TEST_F(BadCheckpoint, BitsOutsideTwoToEight) {
  edit_metadata([](json& m) { m["layers"]["model.layers.0.self_attn.o_proj"]["weights"]["bits"] = 9; });
  expect_refused({metadata().string(), "model.layers.0.self_attn.o_proj", "bits 9 outside 2..8"});
  edit_metadata([](json& m) { m["layers"]["model.layers.0.self_attn.o_proj"]["weights"]["format"] = "int1"; });
  expect_refused({metadata().string(), "model.layers.0.self_attn.o_proj", "int1"});
}

TEST_F(BadCheckpoint, LayerShapeDisagreesWithConfig) {
  edit_metadata([](json& m) { m["layers"]["model.layers.1.mlp.up_proj"]["shape"] = {48, 31}; });
  expect_refused({metadata().string(), "model.layers.1.mlp.up_proj", "disagrees with config.json"});
}

TEST_F(BadCheckpoint, UnexpectedTensor) {
  edit_tensors([](std::vector<io::NamedTensor>& all) {
    all.emplace_back("model.layers.0.mlp.gate_proj.qweight", Tensor::zeros({48, 8}, DType::I32));
  });
  expect_refused({tensors().string(), "unexpected tensor model.layers.0.mlp.gate_proj.qweight"});
}

TEST_F(BadCheckpoint, CodeOutsideTheFormat) {
  edit_tensors([](std::vector<io::NamedTensor>& all) {
    for (auto& [name, t] : all)  // int2-bitbalanced codes live in [-2, 2]; 3 in 3-bit storage is invalid
      if (name == "model.layers.1.mlp.up_proj.qweight") t.data<uint32_t>()[0] = (t.data<uint32_t>()[0] & ~7u) | 3u;
  });
  expect_refused({tensors().string(), "model.layers.1.mlp.up_proj", "not a valid int2-bitbalanced code"});
}

TEST_F(BadCheckpoint, WrongScaleDtype) {
  edit_tensors([](std::vector<io::NamedTensor>& all) {
    for (auto& [name, t] : all)
      if (name == "model.layers.0.self_attn.k_proj.wscale") t = t.to(DType::F16);
  });
  expect_refused({tensors().string(), "model.layers.0.self_attn.k_proj.wscale has dtype F16, expected F32"});
}

TEST(QuantizedCheckpoint, RefusesToReplaceADirectoryThatIsNotACheckpoint) {
  const auto dir = testing::scratch_dir("qckpt_refuse");
  fs::create_directories(dir / "mine");
  testing::write_bytes(dir / "mine" / "notes.txt", "keep me");
  testing::expect_error([&] { write_quantized_checkpoint(mixed_model(false), dir / "mine", info()); },
                        {"mine", "not a quantized checkpoint", "refusing"});
  EXPECT_EQ(testing::entries(dir / "mine"), std::vector<std::string>{"notes.txt"});
  EXPECT_EQ(testing::entries(dir), std::vector<std::string>{"mine"});  // no temporary left behind
  // A previous checkpoint is replaced.
  write_quantized_checkpoint(mixed_model(false), dir / "ckpt", info());
  write_quantized_checkpoint(mixed_model(true), dir / "ckpt", info());
  EXPECT_TRUE(load_config(dir / "ckpt").tied_embeddings);
}

TEST(QuantizedCheckpoint, SourceModelInfoHashesTheWeightFiles) {
  const auto dir = testing::scratch_dir("qckpt_source");
  testing::write_bytes(dir / "model.safetensors", "not really");
  testing::write_bytes(dir / "config.json", "{}");
  const json s = source_model_info(dir);
  ASSERT_EQ(s["files"].size(), 1u);
  EXPECT_EQ(s["files"][0]["name"], "model.safetensors");
  EXPECT_EQ(s["files"][0]["sha256"], sha256_hex("not really"));
}

}  // namespace
}  // namespace bitfold::model
