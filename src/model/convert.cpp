#include "model/convert.h"

#include "model/hf_writer.h"
#include "model/loader.h"
#include "text/tokenizer.h"

namespace bitfold::model {

ConvertResult convert_to_hf(const std::filesystem::path& input,
                            const std::filesystem::path& out_dir, DType dtype,
                            const std::filesystem::path& tokenizer) {
  const LlamaWeights weights = load_weights(input);
  ConvertResult result{weights.config, text::find_tokenizer_file(input, tokenizer)};
  if (!result.tokenizer.empty())
    text::load_tokenizer(result.tokenizer);  // refuse a broken one early
  write_hf_model(weights, out_dir, dtype, result.tokenizer);
  return result;
}

}  // namespace bitfold::model
