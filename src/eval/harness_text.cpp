#include "eval/harness_text.h"

#include "text/utf8.h"

namespace bitfold::eval {

namespace {

// Replaces every non-overlapping occurrence of `from`, scanning left to right (str.replace).
std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  size_t pos = 0;
  while (true) {
    const size_t hit = s.find(from, pos);
    if (hit == std::string_view::npos) break;
    out.append(s.substr(pos, hit - pos));
    out.append(to);
    pos = hit + from.size();
  }
  out.append(s.substr(pos));
  return out;
}

// The code point that starts at s[i] (valid UTF-8 assumed; a stray byte decodes as itself).
char32_t decode_at(std::string_view s, size_t i, size_t& length) {
  const auto lead = static_cast<unsigned char>(s[i]);
  length = text::utf8_sequence_length(lead);
  if (length == 1 || i + length > s.size()) {
    length = 1;
    return lead;
  }
  char32_t cp = lead & (0x7F >> length);
  for (size_t k = 1; k < length; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  return cp;
}

bool is_continuation_byte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

}  // namespace

bool is_python_space(char32_t cp) {
  // CPython's _PyUnicode_IsWhitespace: bidirectional types WS, B, S, or category Zs.
  switch (cp) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D:
    case 0x1C: case 0x1D: case 0x1E: case 0x1F: case 0x20:
    case 0x85: case 0xA0: case 0x1680:
    case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

std::string_view python_rstrip(std::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    size_t start = end - 1;
    while (start > 0 && is_continuation_byte(s[start]) && end - start < 4) --start;
    size_t length = 0;
    const char32_t cp = decode_at(s, start, length);
    if (start + length != end || !is_python_space(cp)) break;
    end = start;
  }
  return s.substr(0, end);
}

std::string_view python_strip(std::string_view s) {
  s = python_rstrip(s);
  size_t begin = 0;
  while (begin < s.size()) {
    size_t length = 0;
    if (!is_python_space(decode_at(s, begin, length))) break;
    begin += length;
  }
  return s.substr(begin);
}

size_t code_point_count(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += !is_continuation_byte(c);
  return n;
}

std::string hellaswag_preprocess(std::string_view text) {
  std::string s = replace_all(python_strip(text), " [title]", ". ");
  // re.sub("\\[.*?\\]", "", s): from each "[", the nearest "]" after it; no "]" → no match there.
  std::string unbracketed;
  size_t pos = 0;
  while (pos < s.size()) {
    const size_t open = s.find('[', pos);
    if (open == std::string::npos) break;
    const size_t close = s.find(']', open + 1);
    if (close == std::string::npos) break;
    unbracketed.append(s, pos, open - pos);
    pos = close + 1;
  }
  unbracketed.append(s, pos, std::string::npos);
  return replace_all(unbracketed, "  ", " ");
}

}  // namespace bitfold::eval
