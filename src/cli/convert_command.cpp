// bitfold convert IN -o OUT_DIR [--dtype f32|f16|bf16] [--tokenizer PATH]
// Rewrites a llama2.c checkpoint or a Hugging Face directory as a Hugging Face directory (q/k rows
// of llama2.c checkpoints permuted to rotate-half RoPE on the way, as the loader does).
#include <fmt/format.h>

#include <memory>
#include <string>

#include "cli/commands.h"
#include "core/dtype.h"
#include "core/error.h"
#include "model/convert.h"

namespace bitfold::cli {

namespace {

struct ConvertOptions {
  std::string input;
  std::string output;
  std::string dtype = "f32";
  std::string tokenizer;
};

DType parse_storage_dtype(const std::string& name) {
  if (name == "f32") return DType::F32;
  if (name == "f16") return DType::F16;
  if (name == "bf16") return DType::BF16;
  fail("--dtype {}: expected f32, f16 or bf16", name);
}

void run_convert(const ConvertOptions& o) {
  const DType dtype = parse_storage_dtype(o.dtype);
  const model::ConvertResult r = model::convert_to_hf(o.input, o.output, dtype, o.tokenizer);
  const model::ModelConfig& c = r.config;
  fmt::print(
      "wrote {}: {} {} layers, dim {}, vocab {}, weights {}, tokenizer {}\n", o.output,
      c.architecture, c.n_layers, c.dim, c.vocab_size, dtype_name(dtype),
      r.tokenizer.empty() ? std::string("none found (pass --tokenizer)") : r.tokenizer.string());
}

}  // namespace

void add_convert_command(CLI::App& app) {
  auto options = std::make_shared<ConvertOptions>();
  auto* cmd = app.add_subcommand(
      "convert",
      "Convert a llama2.c checkpoint or Hugging Face directory to a Hugging Face directory");
  cmd->add_option("IN", options->input, "llama2.c .bin file or Hugging Face model directory")
      ->required();
  cmd->add_option("-o,--output", options->output, "output directory (replaced atomically)")
      ->required();
  cmd->add_option("--dtype", options->dtype, "how to store the weights: f32, f16 or bf16")
      ->check(CLI::IsMember({"f32", "f16", "bf16"}))
      ->capture_default_str();
  cmd->add_option("--tokenizer", options->tokenizer,
                  "tokenizer file to copy (default: the one found beside IN)");
  cmd->callback([options] { run_convert(*options); });
}

}  // namespace bitfold::cli
