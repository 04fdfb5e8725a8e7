// `bitfold convert` end to end, through the built binary.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>

#include "file_fixtures.h"
#include "model/loader.h"
#include "model/model_fixtures.h"
#include "test_support.h"

namespace bitfold::cli {
namespace {

namespace fs = std::filesystem;

// Runs the bitfold binary with `args`; returns its exit code, with stdout and stderr captured.
int run_bitfold(const std::string& args, const fs::path& dir, std::string& out, std::string& err) {
  const fs::path binary = fs::path(BITFOLD_BINARY_DIR) / "bitfold";
  if (!fs::exists(binary)) ADD_FAILURE() << "bitfold binary not built at " << binary;
  const std::string command = binary.string() + " " + args + " >" + (dir / "stdout").string() +
                              " 2>" + (dir / "stderr").string();
  const int status = std::system(command.c_str());
  out = testing::read_bytes(dir / "stdout");
  err = testing::read_bytes(dir / "stderr");
  fs::remove(dir / "stdout");
  fs::remove(dir / "stderr");
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(ConvertCommand, WritesAHuggingFaceDirectory) {
  const auto dir = testing::scratch_dir("cli_convert");
  const fs::path bin = testing::repo_path("models/stories260K/stories260K.bin");
  std::string out, err;
  ASSERT_EQ(
      run_bitfold("convert " + bin.string() + " -o " + (dir / "hf").string() + " --dtype bf16", dir,
                  out, err),
      0)
      << err;
  EXPECT_NE(out.find("wrote"), std::string::npos) << out;
  EXPECT_NE(out.find("tok512.model"), std::string::npos) << out;
  EXPECT_EQ(testing::entries(dir / "hf"),
            (std::vector<std::string>{"config.json", "model.safetensors", "tokenizer.model"}));
  testing::expect_same_weights(model::load_weights(bin), model::load_weights(dir / "hf"),
                               DType::BF16);
}

TEST(ConvertCommand, BadInputIsOneLineAndExitCodeOne) {
  const auto dir = testing::scratch_dir("cli_convert_bad");
  testing::write_bytes(dir / "bad.bin", "garbage, not a model");
  std::string out, err;
  EXPECT_EQ(run_bitfold("convert " + (dir / "bad.bin").string() + " -o " + (dir / "hf").string(),
                        dir, out, err),
            1);
  EXPECT_TRUE(err.starts_with("bitfold: error: " + (dir / "bad.bin").string() + ": ")) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_EQ(testing::entries(dir), std::vector<std::string>{"bad.bin"});
  EXPECT_NE(run_bitfold("convert x -o y --dtype f8", dir, out, err), 0);
  EXPECT_NE(err.find("f8"), std::string::npos) << err;
}

}  // namespace
}  // namespace bitfold::cli
