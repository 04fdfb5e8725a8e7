#pragma once
// `bitfold convert`: any model bitfold loads -> a Hugging Face directory.
#include <filesystem>

#include "core/dtype.h"
#include "model/config.h"

namespace bitfold::model {

struct ConvertResult {
  ModelConfig config;
  std::filesystem::path tokenizer;  // the tokenizer copied, empty when none was found
};

// Loads `input` (llama2.c .bin or HF directory; q/k rows of llama2.c are permuted to rotate-half
// RoPE on load) and writes it to `out_dir` with weights stored as `dtype`, together with the
// tokenizer `tokenizer` or, when empty, the one found beside the input. Everything is validated
// before the output appears; on any error nothing is left behind.
ConvertResult convert_to_hf(const std::filesystem::path& input,
                            const std::filesystem::path& out_dir, DType dtype,
                            const std::filesystem::path& tokenizer = {});

}  // namespace bitfold::model
