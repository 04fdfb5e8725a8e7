#pragma once
// UTF-8 checks and walking, shared by the tokenizers.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace bitfold::text {

// Offset of the first byte that breaks UTF-8 (overlong forms, surrogates and code points above
// U+10FFFF included), or std::string_view::npos when `s` is valid.
size_t find_invalid_utf8(std::string_view s);

// Throws bitfold::Error "WHERE: cannot encode: input is not valid UTF-8 (byte 0xNN at offset K)".
void require_utf8(std::string_view s, std::string_view where);

// Length in bytes of the UTF-8 sequence starting with `lead` (1 for a stray continuation byte).
inline size_t utf8_sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  if ((lead & 0xF8) == 0xF0) return 4;
  return 1;
}

// Appends code point `cp` (< 0x110000) as UTF-8.
void append_utf8(std::string& out, uint32_t cp);

}  // namespace bitfold::text
