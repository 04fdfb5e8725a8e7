#pragma once
// SHA-256 (FIPS 180-4), for recording which source weights a quantized checkpoint came from.
// Written from the standard; no dependency for one hash.
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace bitfold {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t bytes);
  std::array<uint8_t, 32> digest();  // finishes; the object is spent afterwards
  std::string hex_digest();          // lowercase hex of digest()

 private:
  void block(const uint8_t* p);

  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t length_ = 0;  // bytes hashed
};

std::string sha256_hex(std::string_view data);
// Hash of a file's bytes (memory-mapped); errors name the file.
std::string sha256_file(const std::filesystem::path& path);

}  // namespace bitfold
