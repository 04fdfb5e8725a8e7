#pragma once
// Small files made at test time: raw bytes, synthetic llama2.c checkpoints, and assertions on
// the one-line errors bad files must produce. Corrupt inputs are generated here rather than
// committed as binaries.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"

namespace bitfold::testing {

inline void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

inline std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

template <class T>
void append_pod(std::string& out, const T& value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

// A llama2.c checkpoint with this header (vocab_size < 0: separate classifier) and `floats`
// random weights; `floats` < 0 means "exactly what the header implies".
inline std::string llama2c_bytes(std::initializer_list<int32_t> header, int64_t floats = -1,
                                 uint32_t seed = 1) {
  std::vector<int32_t> h(header);
  std::string out;
  for (int32_t v : h) append_pod(out, v);
  if (floats < 0) {
    const int64_t dim = h[0], hidden = h[1], layers = h[2], heads = h[3], kv = h[4],
                  vocab = h[5] < 0 ? -h[5] : h[5], seq = h[6], hd = dim / heads, kv_dim = kv * hd;
    floats = vocab * dim +
             layers * (2 * dim + 2 * dim * dim + 2 * kv_dim * dim + 3 * hidden * dim) + dim +
             seq * hd + (h[5] < 0 ? vocab * dim : 0);
  }
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.5f);
  for (int64_t i = 0; i < floats; ++i) append_pod(out, normal(rng));
  return out;
}

// A header of the given fields plus `body_floats` of zeros: for checks that fail before reading.
inline std::string llama2c_header_only(std::initializer_list<int32_t> header,
                                       int64_t body_floats = 0) {
  std::string out;
  for (int32_t v : header) append_pod(out, v);
  out.append(size_t(body_floats) * 4, '\0');
  return out;
}

// Runs `action`, expecting a bitfold::Error whose message is one line containing every part.
inline void expect_error(const std::function<void()>& action,
                         std::initializer_list<std::string> parts) {
  try {
    action();
    ADD_FAILURE() << "expected a bitfold::Error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << "not one line: " << message;
    for (const std::string& part : parts)
      EXPECT_NE(message.find(part), std::string::npos)
          << "message \"" << message << "\" lacks \"" << part << "\"";
  }
}

// Names of the entries of `dir`, sorted: to check that a failed write left nothing behind.
inline std::vector<std::string> entries(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace bitfold::testing
