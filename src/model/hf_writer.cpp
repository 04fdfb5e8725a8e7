#include "model/hf_writer.h"

#include <optional>

#include "core/atomic_file.h"
#include "core/error.h"
#include "io/safetensors.h"
#include "model/hf_config.h"
#include "model/hf_layout.h"
#include "text/tokenizer.h"

namespace bitfold::model {

namespace fs = std::filesystem;

void write_hf_model(const LlamaWeights& weights, const fs::path& out_dir, DType dtype,
                    const fs::path& tokenizer) {
  const std::string out = out_dir.string();
  if (dtype != DType::F32 && dtype != DType::F16 && dtype != DType::BF16)
    fail("{}: cannot store weights as {} (F32, F16 or BF16)", out, dtype_name(dtype));
  std::error_code ec;
  if (fs::exists(out_dir, ec) && fs::is_directory(out_dir, ec) && !fs::is_empty(out_dir, ec) &&
      !fs::exists(out_dir / "config.json", ec))
    fail("{}: exists and is not a model directory (no config.json); refusing to replace it", out);

  const ModelConfig& c = weights.config;
  if (int(weights.layers.size()) != c.n_layers)
    fail("{}: cannot write a model with {} layers whose config says {}", out, weights.layers.size(),
         c.n_layers);
  for (size_t l = 0; l < weights.layers.size(); ++l)
    if (weights.layers[l].has_folded_norm_extras())
      fail("{}: cannot write: layer {} has a folded norm bias or channel split, which a Hugging "
           "Face checkpoint cannot hold (write a quantized checkpoint instead)",
           out, l);
  std::vector<io::NamedTensor> tensors;
  for_each_hf_tensor(weights, [&](const std::string& name, const Shape& shape, const Tensor& t) {
    if (!t.defined()) fail("{}: cannot write: tensor {} is missing", out, name);
    if (t.shape() != shape)
      fail("{}: cannot write: tensor {} has shape {}, the config implies {}", out, name,
           shape_str(t.shape()), shape_str(shape));
    tensors.emplace_back(name, t);
  });

  // Validate the tokenizer before writing anything.
  std::optional<text::TokenizerKind> kind;
  if (!tokenizer.empty()) kind = text::detect_tokenizer_kind(tokenizer);

  AtomicDirectory dir(out_dir);
  write_file_atomically(dir.path() / "config.json", hf_config_json(c, dtype));
  io::write_safetensors(dir.path() / "model.safetensors", tensors, {{"format", "pt"}}, dtype);
  if (kind) {
    const auto copy = [&](const fs::path& from, const fs::path& to) {
      fs::copy_file(from, to, ec);
      if (ec) fail("{}: cannot copy to {}: {}", from.string(), to.string(), ec.message());
      // copy_file keeps the source's mode; a read-only source must not make the output so.
      fs::permissions(to, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::add,
                      ec);
    };
    copy(tokenizer, dir.path() / text::tokenizer_file_name(*kind));
    const fs::path tokenizer_config = tokenizer.parent_path() / "tokenizer_config.json";
    if (*kind == text::TokenizerKind::HfJson && fs::is_regular_file(tokenizer_config, ec))
      copy(tokenizer_config, dir.path() / "tokenizer_config.json");
  }
  dir.commit();
}

}  // namespace bitfold::model
