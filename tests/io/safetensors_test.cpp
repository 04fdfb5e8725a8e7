#include "io/safetensors.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstring>

#include "file_fixtures.h"
#include "io/safetensors_dir.h"
#include "test_support.h"

namespace bitfold::io {
namespace {

using testing::read_bytes;
using testing::write_bytes;

Tensor iota(Shape shape, DType dtype) {
  Tensor t = Tensor::empty(shape, dtype);
  auto* bytes = static_cast<unsigned char*>(t.raw());
  for (size_t i = 0; i < t.nbytes(); ++i) bytes[i] = static_cast<unsigned char>(i * 7 + 3);
  return t;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

TEST(Safetensors, WritesAndReadsBackEveryDtype) {
  const auto dir = testing::scratch_dir("safetensors_roundtrip");
  std::vector<NamedTensor> tensors = {
      {"f64", iota({3}, DType::F64)},      {"f32", iota({2, 3}, DType::F32)},
      {"f16", iota({5}, DType::F16)},      {"bf16", iota({1, 1, 3}, DType::BF16)},
      {"i64", iota({2}, DType::I64)},      {"i32", iota({4}, DType::I32)},
      {"i16", iota({3}, DType::I16)},      {"i8", iota({7}, DType::I8)},
      {"u8", iota({9}, DType::U8)},        {"scalar", iota({}, DType::F32)},
      {"empty", iota({0, 4}, DType::F32)}, {"naïve ✓", iota({2}, DType::F32)},
  };
  write_safetensors(dir / "t.safetensors", tensors, {{"format", "pt"}, {"note", "hello"}});
  const SafetensorsFile f = SafetensorsFile::open(dir / "t.safetensors");
  EXPECT_EQ(f.names().size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    ASSERT_TRUE(f.contains(name)) << name;
    EXPECT_TRUE(same_bytes(f.tensor(name), t)) << name;
  }
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.metadata().at("note"), "hello");
  EXPECT_EQ(testing::entries(dir), std::vector<std::string>{"t.safetensors"});
}

// The layout the Python library writes and checks: 8-byte little-endian length, a header that
// starts with '{' and is padded with spaces to a multiple of 8, and tensors that tile the data
// region exactly, in order, from offset 0.
TEST(Safetensors, WritesTheLayoutTheSpecRequires) {
  const auto dir = testing::scratch_dir("safetensors_layout");
  write_safetensors(dir / "t.safetensors",
                    {{"b", iota({3}, DType::F16)}, {"a", iota({2, 2}, DType::F32)}}, {});
  const std::string bytes = read_bytes(dir / "t.safetensors");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[size_t(i)]);
  ASSERT_LE(8 + n, bytes.size());
  EXPECT_EQ((8 + n) % 8, 0u);
  const std::string header = bytes.substr(8, n);
  EXPECT_EQ(header.front(), '{');
  EXPECT_EQ(header.find_last_not_of(' '), header.rfind('}'));
  const auto j = nlohmann::json::parse(header);
  EXPECT_EQ(j["b"]["dtype"], "F16");
  EXPECT_EQ(j["b"]["data_offsets"], nlohmann::json({0, 6}));
  EXPECT_EQ(j["a"]["dtype"], "F32");
  EXPECT_EQ(j["a"]["shape"], nlohmann::json({2, 2}));
  EXPECT_EQ(j["a"]["data_offsets"], nlohmann::json({6, 22}));
  EXPECT_EQ(bytes.size() - 8 - n, 22u);
  EXPECT_FALSE(j.contains("__metadata__"));
}

TEST(Safetensors, StoresFloatsAsAnotherDtype) {
  const auto dir = testing::scratch_dir("safetensors_store_as");
  const Tensor t = Tensor::from_floats({1.0f, -2.5f, 1.0f / 3.0f, 65504.0f}, {4});
  write_safetensors(dir / "h.safetensors", {{"t", t}}, {}, DType::F16);
  write_safetensors(dir / "b.safetensors", {{"t", t}}, {}, DType::BF16);
  const Tensor h = SafetensorsFile::open(dir / "h.safetensors").tensor("t");
  const Tensor b = SafetensorsFile::open(dir / "b.safetensors").tensor("t");
  ASSERT_EQ(h.dtype(), DType::F16);
  ASSERT_EQ(b.dtype(), DType::BF16);
  EXPECT_TRUE(same_bytes(h, t.to(DType::F16)));
  EXPECT_TRUE(same_bytes(b, t.to(DType::BF16)));
  // Integer tensors cannot be stored as floats: refused before anything is written.
  testing::expect_error(
      [&] {
        write_safetensors(dir / "i.safetensors", {{"ids", iota({2}, DType::I32)}}, {}, DType::F16);
      },
      {"i.safetensors", "ids", "I32", "F16"});
  EXPECT_FALSE(std::filesystem::exists(dir / "i.safetensors"));
}

TEST(Safetensors, WriterRejectsDuplicateNamesAndLeavesNothing) {
  const auto dir = testing::scratch_dir("safetensors_duplicate");
  const Tensor t = iota({2}, DType::F32);
  testing::expect_error(
      [&] {
        write_safetensors(dir / "d.safetensors", {{"x", t}, {"x", t}});
      },
      {"d.safetensors", "x", "twice"});
  EXPECT_TRUE(testing::entries(dir).empty());
}

TEST(Safetensors, TensorKeepsTheMappingAlive) {
  const auto dir = testing::scratch_dir("safetensors_alive");
  const Tensor t = iota({64}, DType::F32);
  write_safetensors(dir / "t.safetensors", {{"t", t}});
  Tensor view;
  {
    const SafetensorsFile f = SafetensorsFile::open(dir / "t.safetensors");
    view = f.tensor("t");
  }
  std::filesystem::remove(dir / "t.safetensors");
  EXPECT_TRUE(same_bytes(view, t));
}

// Writers that do not pad the header leave tensors misaligned; the reader hands out an aligned
// copy rather than a pointer UBSan (and some CPUs) would object to.
TEST(Safetensors, MisalignedTensorsComeBackAligned) {
  const auto dir = testing::scratch_dir("safetensors_misaligned");
  const std::string header = R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  ASSERT_NE(header.size() % 4, 0u);
  std::string bytes;
  testing::append_pod(bytes, uint64_t(header.size()));
  bytes += header;
  const float values[2] = {1.5f, -7.25f};
  bytes.append(reinterpret_cast<const char*>(values), sizeof values);
  write_bytes(dir / "m.safetensors", bytes);
  const Tensor t = SafetensorsFile::open(dir / "m.safetensors").tensor("t");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw()) % alignof(float), 0u);
  EXPECT_EQ(t.f32()[0], 1.5f);
  EXPECT_EQ(t.f32()[1], -7.25f);
}

TEST(Safetensors, ReadsTheBundledHuggingFaceModel) {
  const SafetensorsFile f =
      SafetensorsFile::open(testing::repo_path("models/pyshakes-15m-hf/model.safetensors"));
  EXPECT_EQ(f.names().size(), 56u);  // 6 layers x 9 + embedding + norm; lm_head is tied
  const SafetensorsEntry& e = f.entry("model.layers.3.mlp.up_proj.weight");
  EXPECT_EQ(e.dtype, DType::F16);
  EXPECT_EQ(e.shape, (Shape{768, 288}));
  EXPECT_EQ(f.metadata().at("format"), "pt");
  testing::expect_error([&] { f.entry("lm_head.weight"); },
                        {"model.safetensors", "lm_head.weight"});
}

TEST(SafetensorsDirectory, ReadsShardsThroughTheIndex) {
  const auto dir = testing::scratch_dir("safetensors_shards");
  const Tensor a = iota({4}, DType::F32), b = iota({2, 2}, DType::BF16);
  write_safetensors(dir / "model-00001-of-00002.safetensors", {{"a", a}});
  write_safetensors(dir / "model-00002-of-00002.safetensors", {{"b", b}});
  write_bytes(
      dir / "model.safetensors.index.json",
      R"({"metadata": {"total_size": 24}, "weight_map": {)"
      R"("a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}})");
  const auto d = SafetensorsDirectory::open(dir);
  EXPECT_EQ(d.names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(d.files().size(), 2u);
  EXPECT_TRUE(same_bytes(d.tensor("a"), a));
  EXPECT_TRUE(same_bytes(d.tensor("b"), b));
  EXPECT_EQ(d.file_of("b").path().filename(), "model-00002-of-00002.safetensors");
  testing::expect_error([&] { d.tensor("c"); },
                        {dir.string(), "c", "model.safetensors.index.json"});
}

TEST(SafetensorsDirectory, PrefersTheSingleFile) {
  const auto dir = testing::scratch_dir("safetensors_single");
  write_safetensors(dir / "model.safetensors", {{"x", iota({3}, DType::F32)}});
  const auto d = SafetensorsDirectory::open(dir);
  EXPECT_EQ(d.names(), std::vector<std::string>{"x"});
}

}  // namespace
}  // namespace bitfold::io
