#include "text/byte_level.h"

#include <array>

#include "text/utf8.h"

namespace bitfold::text {

namespace {

struct Alphabet {
  std::array<uint32_t, 256> image{};
  std::array<int16_t, 324> byte_of{};  // every image is below 256 + 68
  Alphabet() {
    byte_of.fill(-1);
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      image[b] = printable ? b : next++;
      byte_of[image[b]] = int16_t(b);
    }
  }
};

const Alphabet& alphabet() {
  static const Alphabet a;
  return a;
}

}  // namespace

uint32_t byte_to_codepoint(uint8_t byte) { return alphabet().image[byte]; }

int codepoint_to_byte(uint32_t cp) {
  return cp < alphabet().byte_of.size() ? alphabet().byte_of[cp] : -1;
}

std::string bytes_to_byte_level(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) append_utf8(out, byte_to_codepoint(static_cast<uint8_t>(c)));
  return out;
}

std::string byte_level_to_bytes(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    size_t len = utf8_sequence_length(lead);
    if (i + len > text.size()) len = 1;
    uint32_t cp = len == 1 ? lead : (lead & (0x7F >> len));
    for (size_t k = 1; k < len; ++k)
      cp = (cp << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
    const int b = codepoint_to_byte(cp);
    if (b < 0) return std::string(text);
    out += char(b);
    i += len;
  }
  return out;
}

}  // namespace bitfold::text
