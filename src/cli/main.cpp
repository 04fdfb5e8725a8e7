// The `bitfold` command. Each subcommand lives in its own file and registers itself through
// commands.h; errors a user can cause arrive here as bitfold::Error and print on one line.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"bitfold: low-bit post-training quantization and inference for Llama models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "bitfold 0.1.0");
  bitfold::cli::register_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const bitfold::Error& e) {
    std::fflush(stdout);
    fmt::print(stderr, "bitfold: error: {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    fmt::print(stderr, "bitfold: internal error: {}\n", e.what());
    return 2;
  }
  return 0;
}
