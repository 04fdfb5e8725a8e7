#pragma once
// Runs the built `bitfold` binary with stdout and stderr captured, stdin closed.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "file_fixtures.h"
#include "test_support.h"

namespace bitfold::testing {

struct Outcome {
  int code;
  std::string out, err;
};

inline Outcome run_bitfold(const std::string& args, const std::filesystem::path& dir,
                           const std::string& env = "") {
  const auto binary = std::filesystem::path(BITFOLD_BINARY_DIR) / "bitfold";
  const std::string command = env + " " + binary.string() + " " + args + " >" +
                              (dir / "stdout").string() + " 2>" + (dir / "stderr").string() +
                              " </dev/null";
  const int status = std::system(command.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_bytes(dir / "stdout"),
          read_bytes(dir / "stderr")};
}

}  // namespace bitfold::testing
