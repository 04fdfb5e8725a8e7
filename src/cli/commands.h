#pragma once
// Subcommand registry: each command file defines one `add_*_command` and registers a callback
// that does the work (CLI11 runs it after parsing).
#include <CLI/CLI.hpp>

namespace bitfold::cli {

void register_commands(CLI::App& app);

}  // namespace bitfold::cli
