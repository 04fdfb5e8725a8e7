#pragma once
// Subcommand registry: each command file defines one `add_*_command` and registers a callback
// that does the work (CLI11 runs it after parsing).
#include <CLI/CLI.hpp>

namespace bitfold::cli {

void register_commands(CLI::App& app);

void add_convert_command(CLI::App& app);   // convert_command.cpp
void add_generate_command(CLI::App& app);  // generate_command.cpp
void add_ppl_command(CLI::App& app);       // ppl_command.cpp
void add_eval_command(CLI::App& app);      // eval_command.cpp
void add_quantize_command(CLI::App& app);  // quantize_command.cpp
void add_inspect_command(CLI::App& app);   // inspect_command.cpp

}  // namespace bitfold::cli
