#pragma once
// A PCRE2 regular expression in UTF + Unicode-property mode, for the pre-tokenizer patterns of
// tokenizer.json files (Llama-3 / Qwen2 / GPT-2 use \p{L}, \p{N}, (?i:...), lookahead).
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace bitfold::text {

class Regex {
 public:
  // Throws "WHERE: cannot compile pre-tokenizer regex: MESSAGE at offset K".
  Regex(std::string_view pattern, std::string_view where, bool literal = false);
  ~Regex();
  Regex(Regex&& other) noexcept;
  Regex& operator=(Regex&&) = delete;
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Calls on_match(begin, end) for each non-empty match in `subject` (valid UTF-8), left to
  // right, each search starting where the previous match ended.
  void for_each_match(std::string_view subject,
                      const std::function<void(size_t, size_t)>& on_match) const;

 private:
  std::string where_;
  void* code_ = nullptr;  // pcre2_code_8*
};

}  // namespace bitfold::text
