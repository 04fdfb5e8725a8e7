#pragma once
// String operations that lm-evaluation-harness performs in Python, reproduced exactly so prompts
// and length normalizations come out byte for byte as the harness builds them: str.strip /
// str.rstrip (Unicode whitespace, str.isspace), len() of a str (code points), and HellaSwag's
// preprocess().
#include <cstddef>
#include <string>
#include <string_view>

namespace bitfold::eval {

// Python's str.isspace() for one code point.
bool is_python_space(char32_t cp);

// str.strip() / str.rstrip() with no argument, on UTF-8 text.
std::string_view python_strip(std::string_view s);
std::string_view python_rstrip(std::string_view s);

// len(s) of the Python string: the number of code points of valid UTF-8 text (what the harness
// divides log-likelihoods by for acc_norm).
size_t code_point_count(std::string_view s);

// lm-eval-harness tasks/hellaswag/utils.py preprocess(): strip; " [title]" → ". "; every
// "[...]" (shortest match) removed; "  " → " " (one left-to-right pass, like str.replace).
std::string hellaswag_preprocess(std::string_view text);

}  // namespace bitfold::eval
