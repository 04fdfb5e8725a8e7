// stories260K greedy from BOS: all 200 ids and the text must equal upstream llama2.c's run.c
// (greedy-200.ids / greedy-200.txt).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "core/mapped_file.h"
#include "engine/generate.h"
#include "model/loader.h"
#include "test_support.h"
#include "text/tokenizer.h"

namespace bitfold::engine {
namespace {

std::filesystem::path stories_dir() {
  const auto bundled = testing::repo_path("models/stories260K");
  if (std::filesystem::exists(bundled / "stories260K.bin")) return bundled;
  return testing::shared_data("models/stories260K");
}

TEST(Stories260K, GreedyReproducesLlama2c) {
  const auto dir = stories_dir();
  BITFOLD_REQUIRE_SHARED(dir / "stories260K.bin");
  BITFOLD_REQUIRE_SHARED(dir / "greedy-200.ids");
  const auto weights = model::load_weights(dir / "stories260K.bin");
  const auto tokenizer = text::find_tokenizer(dir / "stories260K.bin");

  std::vector<int32_t> want;
  std::istringstream ids(read_text_file(dir / "greedy-200.ids"));
  for (int32_t id; ids >> id;) want.push_back(id);
  ASSERT_EQ(want.size(), 201u);

  GenerateOptions opts;
  opts.max_new_tokens = 200;
  opts.sampler.temperature = 0.0f;
  std::string streamed;
  const Generation g =
      generate(weights, *tokenizer, "", opts, [&](std::string_view s) { streamed += s; });
  ASSERT_EQ(g.prompt, std::vector<int32_t>{want[0]});
  ASSERT_EQ(g.tokens.size(), 200u);
  for (size_t i = 0; i < 200; ++i)
    ASSERT_EQ(g.tokens[i], want[i + 1]) << "first difference at generated token " << i;
  // run.c prints the pieces and then a newline.
  const std::string text = read_text_file(dir / "greedy-200.txt");
  EXPECT_EQ(g.text + "\n", text);
  EXPECT_EQ(streamed, g.text);
}

}  // namespace
}  // namespace bitfold::engine
