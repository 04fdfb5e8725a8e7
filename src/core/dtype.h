#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace bitfold {

enum class DType : uint8_t { F64, F32, F16, BF16, I64, I32, I16, I8, U8 };

size_t dtype_size(DType dtype);
std::string_view dtype_name(DType dtype);  // safetensors spelling: "F32", "BF16", ...
// Parses a safetensors dtype string; returns false for unknown ones.
bool parse_dtype(std::string_view name, DType& out);

// IEEE half <-> float, round-to-nearest-even, with subnormals, infinities and NaN.
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
inline float bf16_to_f32(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
uint16_t f32_to_bf16(float f);  // round-to-nearest-even, NaN kept quiet

// Converts `count` elements of a floating dtype (F64/F32/F16/BF16) to float.
void convert_to_f32(const void* src, DType src_dtype, float* dst, size_t count);
// Converts float to a floating dtype (F64/F32/F16/BF16).
void convert_from_f32(const float* src, void* dst, DType dst_dtype, size_t count);

}  // namespace bitfold
