// Bad models through the whole load-and-convert path: each error is one line naming the file
// (and tensor) and the problem, and no output directory or temporary is left behind.
#include <gtest/gtest.h>

#include "core/atomic_file.h"
#include "file_fixtures.h"
#include "io/safetensors.h"
#include "model/convert.h"
#include "model/hf_writer.h"
#include "model/loader.h"
#include "model_fixtures.h"
#include "test_support.h"

namespace bitfold::model {
namespace {

namespace fs = std::filesystem;

// Converts `input` into <scratch>/out/model and expects the error; `out` must stay empty.
void expect_convert_fails(const std::string& test, const fs::path& input,
                          std::initializer_list<std::string> parts) {
  const fs::path out = testing::scratch_dir(test + "_out");
  testing::expect_error([&] { convert_to_hf(input, out / "model", DType::F16); }, parts);
  EXPECT_TRUE(testing::entries(out).empty()) << "output left behind in " << out;
}

// A valid tiny HF directory to corrupt.
fs::path tiny_hf_dir(const fs::path& dir) {
  write_hf_model(testing::random_weights(testing::tiny_config(), 2), dir / "model", DType::F32);
  return dir / "model";
}

TEST(BadModel, TruncatedLlama2cFile) {
  const auto dir = testing::scratch_dir("bad_model_truncated");
  const std::string bytes =
      testing::read_bytes(testing::repo_path("models/stories260K/stories260K.bin"));
  testing::write_bytes(dir / "cut.bin", bytes.substr(0, 1000000));
  expect_convert_fails(
      "bad_model_truncated", dir / "cut.bin",
      {(dir / "cut.bin").string(), "1000000 bytes", "implies 1056540", "truncated"});
}

TEST(BadModel, HeaderClaimsMoreDataThanPresent) {
  const auto dir = testing::scratch_dir("bad_model_claims_more");
  // dim 16, hidden 32, 2 layers, 2 heads, 2 KV heads, vocab 20, seq 8, but one layer of data.
  testing::write_bytes(dir / "m.bin", testing::llama2c_bytes({16, 32, 1, 2, 2, 20, 8}));
  std::string claims_two = testing::read_bytes(dir / "m.bin");
  const int32_t two = 2;
  std::memcpy(claims_two.data() + 8, &two, 4);
  testing::write_bytes(dir / "m.bin", claims_two);
  expect_convert_fails("bad_model_claims_more", dir / "m.bin",
                       {(dir / "m.bin").string(), "n_layers 2", "truncated"});
}

TEST(BadModel, GarbageFile) {
  const auto dir = testing::scratch_dir("bad_model_garbage");
  std::string garbage;
  for (int i = 0; i < 4096; ++i) garbage += char((i * 131 + 7) % 251);
  testing::write_bytes(dir / "g.bin", garbage);
  expect_convert_fails("bad_model_garbage", dir / "g.bin", {(dir / "g.bin").string(), "llama2.c"});
}

TEST(BadModel, EmptyFile) {
  const auto dir = testing::scratch_dir("bad_model_empty");
  testing::write_bytes(dir / "e.bin", "");
  expect_convert_fails("bad_model_empty", dir / "e.bin", {(dir / "e.bin").string(), "empty file"});
}

TEST(BadModel, UnknownDtype) {
  const auto dir = testing::scratch_dir("bad_model_dtype");
  const fs::path model = tiny_hf_dir(dir);
  // Rewrite with one tensor re-labelled F8_E4M3 (same byte length as its I8 payload).
  const auto single = io::SafetensorsFile::open(model / "model.safetensors");
  std::vector<io::NamedTensor> tensors;
  for (const auto& name : single.names()) tensors.emplace_back(name, single.tensor(name).clone());
  tensors[3].second = Tensor::zeros(tensors[3].second.shape(), DType::U8);
  io::write_safetensors(model / "model.safetensors.tmp", tensors);
  std::string bytes = testing::read_bytes(model / "model.safetensors.tmp");
  fs::remove(model / "model.safetensors.tmp");
  const size_t at = bytes.find("\"U8\"");
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, 4, "\"F8_E4M3\"");
  const uint64_t header = *reinterpret_cast<const uint64_t*>(bytes.data()) + 5;
  std::memcpy(bytes.data(), &header, 8);
  testing::write_bytes(model / "model.safetensors", bytes);
  expect_convert_fails("bad_model_dtype", model,
                       {(model / "model.safetensors").string(), tensors[3].first, "dtype F8_E4M3"});
}

TEST(BadModel, IntegerWeights) {
  const auto dir = testing::scratch_dir("bad_model_int");
  const fs::path model = tiny_hf_dir(dir);
  const auto single = io::SafetensorsFile::open(model / "model.safetensors");
  std::vector<io::NamedTensor> tensors;
  for (const auto& name : single.names()) {
    Tensor t = single.tensor(name).clone();
    if (name == "model.norm.weight") t = Tensor::zeros(t.shape(), DType::I32);
    tensors.emplace_back(name, t);
  }
  io::write_safetensors(model / "model.safetensors", tensors);
  expect_convert_fails(
      "bad_model_int", model,
      {(model / "model.safetensors").string(), "model.norm.weight", "dtype I32", "floating-point"});
}

TEST(BadModel, TensorShapeDoesNotMatchConfig) {
  const auto dir = testing::scratch_dir("bad_model_shape");
  const fs::path model = tiny_hf_dir(dir);
  const auto single = io::SafetensorsFile::open(model / "model.safetensors");
  std::vector<io::NamedTensor> tensors;
  for (const auto& name : single.names()) {
    Tensor t = single.tensor(name).clone();
    if (name == "model.layers.3.mlp.up_proj.weight") t = Tensor::zeros({47, 32}, DType::F32);
    tensors.emplace_back(name, t);
  }
  io::write_safetensors(model / "model.safetensors", tensors);
  expect_convert_fails("bad_model_shape", model,
                       {(model / "model.safetensors").string() +
                        ": tensor model.layers.3.mlp.up_proj.weight has shape [47, 32], "
                        "config.json implies [48, 32]"});
}

TEST(BadModel, MissingTensor) {
  const auto dir = testing::scratch_dir("bad_model_missing_tensor");
  const fs::path model = tiny_hf_dir(dir);
  const auto single = io::SafetensorsFile::open(model / "model.safetensors");
  std::vector<io::NamedTensor> tensors;
  for (const auto& name : single.names())
    if (name != "lm_head.weight") tensors.emplace_back(name, single.tensor(name).clone());
  io::write_safetensors(model / "model.safetensors", tensors);
  expect_convert_fails("bad_model_missing_tensor", model,
                       {model.string(), "lm_head.weight", "missing", "[40, 32]"});
}

TEST(BadModel, MissingShard) {
  const auto dir = testing::scratch_dir("bad_model_missing_shard");
  const fs::path model = tiny_hf_dir(dir);
  fs::rename(model / "model.safetensors", model / "model-00001-of-00002.safetensors");
  const auto shard = io::SafetensorsFile::open(model / "model-00001-of-00002.safetensors");
  std::string weight_map;
  for (const auto& name : shard.names())
    weight_map +=
        fmt::format("{}\"{}\": \"model-0000{}-of-00002.safetensors\"",
                    weight_map.empty() ? "" : ", ", name, name == "lm_head.weight" ? 2 : 1);
  write_file_atomically(model / "model.safetensors.index.json",
                        "{\"weight_map\": {" + weight_map + "}}");
  expect_convert_fails(
      "bad_model_missing_shard", model,
      {(model / "model-00002-of-00002.safetensors").string(), "missing shard", "lm_head.weight"});
}

TEST(BadModel, MissingConfigJson) {
  const auto dir = testing::scratch_dir("bad_model_no_config");
  const fs::path model = tiny_hf_dir(dir);
  fs::remove(model / "config.json");
  expect_convert_fails("bad_model_no_config", model,
                       {(model / "config.json").string(), "missing", "needs config.json"});
}

TEST(BadModel, MissingInput) {
  expect_convert_fails("bad_model_missing_input", "/nonexistent/model.bin",
                       {"/nonexistent/model.bin", "does not exist"});
}

TEST(BadModel, BrokenTokenizerBesideAGoodModel) {
  const auto dir = testing::scratch_dir("bad_model_tokenizer");
  fs::copy_file(testing::repo_path("models/stories260K/stories260K.bin"), dir / "m.bin");
  testing::write_bytes(dir / "tokenizer.model", "not a tokenizer at all");
  expect_convert_fails("bad_model_tokenizer", dir / "m.bin",
                       {(dir / "tokenizer.model").string(), "not a tokenizer"});
}

}  // namespace
}  // namespace bitfold::model
