#pragma once
// Log-likelihood of continuations given contexts, the way lm-evaluation-harness's HFLM computes
// it — tokenization included — with the context's prefill shared by all choices of an item.
//
// Tokenization (HFLM._encode_pair): trailing whitespace of the context moves to the front of
// the continuation; then the context and context + continuation are encoded separately, each
// with the tokenizer's BOS in front (the harness delegates BOS to the tokenizer since v0.4.10,
// and the Llama-2 sentencepiece tokenizer adds one), and the continuation's tokens are those of
// the joint encoding after the first len(context tokens): a word split differently at the seam
// is scored as the joint encoding splits it. An empty context is BOS alone. The sequence is
// cut on the left to the model's context + 1 tokens, and the last token is not fed.
#include <cstdint>
#include <span>
#include <vector>

#include "eval/zero_shot_tasks.h"
#include "model/llama.h"
#include "text/tokenizer.h"

namespace bitfold::eval {

// A request as token ids: what is fed, and how many of its last tokens are scored.
struct TokenizedRequest {
  std::vector<int32_t> tokens;  // context then continuation, left-truncated to max_len + 1
  int continuation = 0;         // the last `continuation` tokens are scored (≥ 1)
  bool truncated = false;       // tokens were dropped on the left
};

// bos < 0: no BOS (older harness versions; an empty context is then an error). Errors name
// `where`: an empty continuation, a continuation longer than max_len.
TokenizedRequest tokenize_request(const text::Tokenizer& tokenizer, const LoglikRequest& request,
                                  int bos, int max_len, std::string_view where);

struct LoglikResult {
  double loglik = 0;    // Σ log P(continuation token | everything before it), nats
  bool greedy = false;  // every continuation token is the argmax of its distribution
};

struct GroupScore {
  std::vector<LoglikResult> results;  // one per request, in order
  int64_t forwarded_tokens = 0;       // tokens run through the model for the group
};

// Scores the requests of one item: the longest prefix they share (up to the shortest context)
// is prefilled once into `cache`, then each request continues from there, overwriting the
// cache's later positions. Equal, up to float rounding, to scoring every request on its own.
// `cache` must hold the model's max_seq_len positions.
GroupScore score_requests(const model::LlamaWeights& weights, model::KVCache& cache,
                          std::span<const TokenizedRequest> requests,
                          const model::ActivationHook& hook = {});

}  // namespace bitfold::eval
