// Python string semantics the harness relies on, and HellaSwag's preprocess().
#include <gtest/gtest.h>

#include "eval/harness_text.h"

namespace bitfold::eval {
namespace {

TEST(HarnessText, StripRemovesUnicodeWhitespaceLikePython) {
  EXPECT_EQ(python_strip("  a b \t\n"), "a b");
  EXPECT_EQ(python_rstrip("  a b \t\n"), "  a b");
  // U+00A0 NO-BREAK SPACE, U+3000 IDEOGRAPHIC SPACE, U+2009 THIN SPACE are str.isspace().
  EXPECT_EQ(python_strip("\xC2\xA0x\xE3\x80\x80\xE2\x80\x89"), "x");
  // U+00E9 and U+200B (ZERO WIDTH SPACE, not isspace) stay; so does a lone continuation byte.
  EXPECT_EQ(python_rstrip("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(python_rstrip("a\xE2\x80\x8B"), "a\xE2\x80\x8B");
  EXPECT_EQ(python_strip(""), "");
  EXPECT_EQ(python_strip(" \x1c\x1f\x0b "), "");
}

TEST(HarnessText, CodePointCountIsPythonLen) {
  EXPECT_EQ(code_point_count(""), 0u);
  EXPECT_EQ(code_point_count("abc"), 3u);
  EXPECT_EQ(code_point_count("caf\xC3\xA9"), 4u);          // café
  EXPECT_EQ(code_point_count("\xE2\x82\xAC\xF0\x9F\x98\x80"), 2u);  // € 😀
}

TEST(HarnessText, HellaswagPreprocessMatchesTheHarness) {
  // Worked by hand through utils.py's four steps.
  EXPECT_EQ(hellaswag_preprocess(" How to cook [title] Boil water. "), "How to cook. Boil water.");
  EXPECT_EQ(hellaswag_preprocess("Pour it [step] slowly [substeps] now"), "Pour it slowly now");
  EXPECT_EQ(hellaswag_preprocess("See [a [b] c] here"), "See c] here");  // shortest match
  EXPECT_EQ(hellaswag_preprocess("open [ bracket"), "open [ bracket");    // no "]": no match
  EXPECT_EQ(hellaswag_preprocess("a   b"), "a  b");  // one pass of "  " → " ", as str.replace
  EXPECT_EQ(hellaswag_preprocess("[header] Intro"), " Intro");  // strip comes first
  EXPECT_EQ(hellaswag_preprocess("plain text"), "plain text");
}

}  // namespace
}  // namespace bitfold::eval
