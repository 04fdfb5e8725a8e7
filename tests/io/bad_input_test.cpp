// Corrupt and hostile files at the reader level. Each must give one line naming the file and the
// problem, never a crash or a read out of bounds (this layer also runs under ASan + UBSan).
#include <gtest/gtest.h>

#include "file_fixtures.h"
#include "io/llama2c.h"
#include "io/safetensors.h"
#include "io/safetensors_dir.h"
#include "test_support.h"

namespace bitfold::io {
namespace {

using testing::expect_error;
using testing::write_bytes;

std::string safetensors_bytes(const std::string& header, size_t data_bytes) {
  std::string out;
  testing::append_pod(out, uint64_t(header.size()));
  out += header;
  out.append(data_bytes, '\x01');
  return out;
}

std::string valid_safetensors(const std::filesystem::path& dir) {
  write_safetensors(dir / "valid.safetensors",
                    {{"w", Tensor::from_floats(std::vector<float>(64, 0.5f), {8, 8})}});
  return testing::read_bytes(dir / "valid.safetensors");
}

TEST(BadSafetensors, EmptyFile) {
  const auto dir = testing::scratch_dir("bad_st_empty");
  write_bytes(dir / "e.safetensors", "");
  expect_error([&] { SafetensorsFile::open(dir / "e.safetensors"); }, {"e.safetensors", "empty"});
}

TEST(BadSafetensors, TruncatedFile) {
  const auto dir = testing::scratch_dir("bad_st_truncated");
  const std::string bytes = valid_safetensors(dir);
  write_bytes(dir / "t.safetensors", bytes.substr(0, bytes.size() - 100));
  expect_error([&] { SafetensorsFile::open(dir / "t.safetensors"); },
               {"t.safetensors", "tensor w", "past the end of the data", "truncated"});
  write_bytes(dir / "h.safetensors", bytes.substr(0, 20));  // cut inside the header
  expect_error([&] { SafetensorsFile::open(dir / "h.safetensors"); },
               {"h.safetensors", "header length", "exceeds", "truncated"});
}

TEST(BadSafetensors, HeaderClaimsMoreDataThanPresent) {
  const auto dir = testing::scratch_dir("bad_st_claims_more");
  write_bytes(dir / "c.safetensors",
              safetensors_bytes(
                  R"({"big":{"dtype":"F32","shape":[1000,1000],"data_offsets":[0,4000000]}})", 64));
  expect_error([&] { SafetensorsFile::open(dir / "c.safetensors"); },
               {"c.safetensors", "tensor big", "[0, 4000000]", "64 bytes"});
}

TEST(BadSafetensors, HeaderLengthBeyondTheFile) {
  const auto dir = testing::scratch_dir("bad_st_header_length");
  std::string bytes;
  testing::append_pod(bytes, uint64_t(1) << 40);
  bytes += "{}";
  write_bytes(dir / "l.safetensors", bytes);
  expect_error([&] { SafetensorsFile::open(dir / "l.safetensors"); },
               {"l.safetensors", "header length 1099511627776", "exceeds"});
}

TEST(BadSafetensors, GarbageOrWrongMagic) {
  const auto dir = testing::scratch_dir("bad_st_garbage");
  // A plausible length followed by bytes that are not JSON: the first check that can fail is the
  // header's opening brace.
  std::string bytes;
  testing::append_pod(bytes, uint64_t(16));
  bytes += "GGUF\x03\x00\x00\x00garbage!";
  write_bytes(dir / "g.safetensors", bytes);
  expect_error([&] { SafetensorsFile::open(dir / "g.safetensors"); },
               {"g.safetensors", "not a safetensors file"});
  write_bytes(dir / "j.safetensors", safetensors_bytes("{\"a\": [1, 2,,]}", 0));
  expect_error([&] { SafetensorsFile::open(dir / "j.safetensors"); },
               {"j.safetensors", "not valid JSON"});
  write_bytes(dir / "s.safetensors", "abc");
  expect_error([&] { SafetensorsFile::open(dir / "s.safetensors"); },
               {"s.safetensors", "too small"});
}

TEST(BadSafetensors, UnknownDtype) {
  const auto dir = testing::scratch_dir("bad_st_dtype");
  write_bytes(
      dir / "u.safetensors",
      safetensors_bytes(R"({"q":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}})", 4));
  expect_error([&] { SafetensorsFile::open(dir / "u.safetensors"); },
               {"u.safetensors", "tensor q", "dtype F8_E4M3"});
  // A name from the file cannot break the message's line.
  write_bytes(dir / "n.safetensors",
              safetensors_bytes(
                  R"({"evil\nname":{"dtype":"F8_E5M2","shape":[4],"data_offsets":[0,4]}})", 4));
  expect_error([&] { SafetensorsFile::open(dir / "n.safetensors"); },
               {"n.safetensors", "tensor evil\\nname", "dtype F8_E5M2"});
}

TEST(BadSafetensors, ShapeDoesNotMatchByteRange) {
  const auto dir = testing::scratch_dir("bad_st_shape_range");
  write_bytes(
      dir / "r.safetensors",
      safetensors_bytes(R"({"w":{"dtype":"F32","shape":[3,3],"data_offsets":[0,32]}})", 32));
  expect_error([&] { SafetensorsFile::open(dir / "r.safetensors"); },
               {"r.safetensors", "tensor w", "[3, 3]", "36 bytes", "32"});
  // A shape whose byte size overflows 64 bits.
  write_bytes(
      dir / "o.safetensors",
      safetensors_bytes(
          R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0));
  expect_error([&] { SafetensorsFile::open(dir / "o.safetensors"); },
               {"o.safetensors", "tensor w", "too large"});
  write_bytes(dir / "n.safetensors",
              safetensors_bytes(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", 0));
  expect_error([&] { SafetensorsFile::open(dir / "n.safetensors"); },
               {"n.safetensors", "tensor w", "shape"});
}

TEST(BadSafetensorsDirectory, MissingShard) {
  const auto dir = testing::scratch_dir("bad_st_missing_shard");
  write_safetensors(dir / "model-00001-of-00002.safetensors",
                    {{"a", Tensor::from_floats({1}, {1})}});
  write_bytes(
      dir / "model.safetensors.index.json",
      R"({"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}})");
  expect_error([&] { SafetensorsDirectory::open(dir); },
               {(dir / "model-00002-of-00002.safetensors").string(), "missing shard", "tensor b"});
}

TEST(BadSafetensorsDirectory, TensorMissingFromItsShard) {
  const auto dir = testing::scratch_dir("bad_st_missing_tensor");
  write_safetensors(dir / "s1.safetensors", {{"a", Tensor::from_floats({1}, {1})}});
  write_bytes(dir / "model.safetensors.index.json",
              R"({"weight_map": {"a": "s1.safetensors", "b": "s1.safetensors"}})");
  expect_error([&] { SafetensorsDirectory::open(dir); },
               {(dir / "s1.safetensors").string(), "tensor b", "not in this shard"});
}

TEST(BadSafetensorsDirectory, ShardNameLeavesTheDirectory) {
  const auto dir = testing::scratch_dir("bad_st_shard_escape");
  write_bytes(dir / "model.safetensors.index.json",
              R"({"weight_map": {"a": "../elsewhere.safetensors"}})");
  expect_error(
      [&] { SafetensorsDirectory::open(dir); },
      {"model.safetensors.index.json", "../elsewhere.safetensors", "not a file in this directory"});
}

TEST(BadSafetensorsDirectory, NoModelFiles) {
  const auto dir = testing::scratch_dir("bad_st_no_files");
  expect_error([&] { SafetensorsDirectory::open(dir); }, {dir.string(), "no model.safetensors"});
}

// --- llama2.c checkpoints -------------------------------------------------------------------

TEST(BadLlama2c, EmptyFile) {
  const auto dir = testing::scratch_dir("bad_l2c_empty");
  write_bytes(dir / "e.bin", "");
  expect_error([&] { open_llama2c(dir / "e.bin"); }, {"e.bin", "empty"});
}

TEST(BadLlama2c, TruncatedFile) {
  const auto dir = testing::scratch_dir("bad_l2c_truncated");
  const std::string bytes =
      testing::read_bytes(testing::repo_path("models/stories260K/stories260K.bin"));
  write_bytes(dir / "t.bin", bytes.substr(0, bytes.size() / 2));
  expect_error([&] { open_llama2c(dir / "t.bin"); },
               {"t.bin", "528270 bytes", "implies 1056540", "truncated"});
  write_bytes(dir / "h.bin", bytes.substr(0, 17));  // inside the header
  expect_error([&] { open_llama2c(dir / "h.bin"); }, {"h.bin", "too small"});
}

TEST(BadLlama2c, HeaderClaimsMoreDataThanPresent) {
  const auto dir = testing::scratch_dir("bad_l2c_claims_more");
  std::string bytes = testing::read_bytes(testing::repo_path("models/stories260K/stories260K.bin"));
  const int32_t layers = 6;  // the file holds 5
  std::memcpy(bytes.data() + 8, &layers, 4);
  write_bytes(dir / "m.bin", bytes);
  expect_error([&] { open_llama2c(dir / "m.bin"); },
               {"m.bin", "n_layers 6", "1056540 bytes", "truncated"});
  // ... and one claiming less: trailing bytes are not silently ignored either.
  const int32_t fewer = 4;
  std::memcpy(bytes.data() + 8, &fewer, 4);
  write_bytes(dir / "l.bin", bytes);
  expect_error([&] { open_llama2c(dir / "l.bin"); }, {"l.bin", "n_layers 4", "trailing bytes"});
}

TEST(BadLlama2c, GarbageOrWrongMagic) {
  const auto dir = testing::scratch_dir("bad_l2c_garbage");
  write_bytes(dir / "neg.bin", testing::llama2c_header_only({288, -5, 6, 6, 6, 32000, 256}, 10));
  expect_error([&] { open_llama2c(dir / "neg.bin"); },
               {"neg.bin", "not a llama2.c checkpoint", "hidden_dim is -5"});
  write_bytes(dir / "huge.bin", testing::llama2c_header_only({2000000000, 2000000000, 2000000000, 1,
                                                              1, 2000000000, 2000000000}));
  expect_error([&] { open_llama2c(dir / "huge.bin"); }, {"huge.bin", "impossibly large"});
  std::string magic;
  testing::append_pod(magic, int32_t(0x616b3432));
  testing::append_pod(magic, int32_t(1));
  magic.append(248, '\0');
  write_bytes(dir / "v1.bin", magic);
  expect_error([&] { open_llama2c(dir / "v1.bin"); },
               {"v1.bin", "export version 1", "not supported"});
  write_bytes(dir / "text.bin", "this is just some text, not a checkpoint at all\n");
  expect_error([&] { open_llama2c(dir / "text.bin"); }, {"text.bin", "llama2.c"});
}

TEST(BadLlama2c, InconsistentHeads) {
  const auto dir = testing::scratch_dir("bad_l2c_heads");
  write_bytes(dir / "a.bin", testing::llama2c_header_only({10, 16, 1, 3, 3, 8, 4}));
  expect_error([&] { open_llama2c(dir / "a.bin"); }, {"a.bin", "dim 10", "n_heads 3"});
  write_bytes(dir / "b.bin", testing::llama2c_header_only({12, 16, 1, 6, 4, 8, 4}));
  expect_error([&] { open_llama2c(dir / "b.bin"); }, {"b.bin", "n_heads 6", "n_kv_heads 4"});
  write_bytes(dir / "c.bin", testing::llama2c_header_only({6, 16, 1, 2, 2, 8, 4}));
  expect_error([&] { open_llama2c(dir / "c.bin"); }, {"c.bin", "head size 3", "odd"});
}

}  // namespace
}  // namespace bitfold::io
