#include "cli/commands.h"

#include <fmt/format.h>

#include "core/device.h"
#include "core/parallel.h"

namespace bitfold::cli {

namespace {

void add_info_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Print build and device information");
  cmd->callback([] {
    fmt::print("bitfold 0.1.0\nthreads: {}\nCUDA: {}\n", num_threads(), cuda_device_description());
  });
}

}  // namespace

void register_commands(CLI::App& app) {
  add_info_command(app);
  add_convert_command(app);
  add_generate_command(app);
  add_ppl_command(app);
  add_eval_command(app);
  add_quantize_command(app);
  add_inspect_command(app);
}

}  // namespace bitfold::cli
