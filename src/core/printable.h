#pragma once
// Names taken from files (tensor names, token texts) go into one-line error messages: control
// characters are shown escaped so that a hostile name cannot break the line.
#include <fmt/format.h>

#include <string>
#include <string_view>

namespace bitfold {

inline std::string printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else if (c == '\t')
      out += "\\t";
    else if (u < 0x20 || u == 0x7F)
      out += fmt::format("\\x{:02x}", u);
    else
      out += c;
  }
  return out;
}

}  // namespace bitfold
