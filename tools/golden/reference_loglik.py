#!/usr/bin/env python3
"""Log-likelihoods of bitfold's zero-shot requests, recomputed with Hugging Face transformers.

An independent check of `bitfold eval`'s scorer (tests/eval/reference_loglik_test.cpp compares
within 1e-3). Run once, on a machine with torch + transformers + sentencepiece, from the
repository root, with no network (the GPU machine: everything it needs is in the repository):

    python3 tools/golden/reference_loglik.py --out $OUT/reference-loglik-pyshakes-15m.json
    # here: cp .../reference-loglik-pyshakes-15m.json tests/data/eval/ && git add tests/data/eval

Input: tests/data/eval/requests-pyshakes-15m.jsonl, written by

    bitfold eval models/pyshakes-15m-hf --tasks all --limit 8 --seed 1234 \\
        --dump-requests tests/data/eval/requests-pyshakes-15m.jsonl

one JSON object per (context, continuation) request: the strings, bitfold's token ids (BOS,
context, continuation, left-truncated to the model's context + 1) and how many trailing tokens are
scored. For every request this script

  1. scores bitfold's token ids with LlamaForCausalLM (models/pyshakes-15m-hf, F16 weights loaded
     as FP32, eager attention, TF32 off): the sum over the continuation of log_softmax in float64
     of the FP32 logits, and whether each continuation token is the argmax (`greedy`);
  2. tokenizes the strings as lm-evaluation-harness's HFLM._encode_pair does (trailing context
     whitespace moved to the continuation; context and context + continuation encoded
     separately with the tokenizer's own special tokens, i.e. BOS for this Llama-2 sentencepiece
     tokenizer; continuation = the joint encoding after len(context tokens); an empty context is
     BOS alone; left truncation to max_length + 1) and records whether that equals bitfold's ids
     (`tokens_match`). Where it does not, the harness's ids and their log-likelihood are stored
     too (`hf_tokens`, `hf_loglik`).
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[2]


def load_tokenizer(model_dir: Path):
    """The tokenizer the harness would use (AutoTokenizer), else sentencepiece with BOS."""
    try:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        return type(tok).__name__, (lambda text, special=True: tok.encode(text, add_special_tokens=special)), tok.bos_token_id
    except Exception as e:  # noqa: BLE001 — report and fall back
        print(f"AutoTokenizer failed ({type(e).__name__}: {e}); using sentencepiece + BOS", flush=True)
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor(model_file=str(model_dir / "tokenizer.model"))
        bos = sp.bos_id()
        return "sentencepiece", (lambda text, special=True: ([bos] if special else []) + sp.encode(text)), bos


def harness_tokens(encode, bos: int, context: str, continuation: str, max_length: int):
    """lm-eval-harness HFLM: _encode_pair, then (context + continuation)[-(max_length + 1):]."""
    if context == "":
        ctx, cont = [bos], encode(continuation, special=False)
    else:
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces > 0:
            continuation = context[-n_spaces:] + continuation
            context = context[:-n_spaces]
        whole = encode(context + continuation)
        ctx = encode(context)
        cont = whole[len(ctx):]
    tokens = (ctx + cont)[-(max_length + 1):]
    return tokens, len(cont)


def score(model, device, tokens, n_cont):
    import torch

    fed = torch.tensor([tokens[:-1]], device=device)
    with torch.no_grad():
        logits = model(input_ids=fed, use_cache=False).logits[0].double()
    logp = torch.log_softmax(logits, dim=-1)
    first = len(tokens) - n_cont
    loglik = 0.0
    greedy = True
    for pos in range(first - 1, len(tokens) - 1):
        target = tokens[pos + 1]
        loglik += float(logp[pos, target])
        greedy = greedy and int(torch.argmax(logits[pos])) == target
    return loglik, greedy


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=REPO / "models/pyshakes-15m-hf")
    ap.add_argument("--requests", type=Path, default=REPO / "tests/data/eval/requests-pyshakes-15m.jsonl")
    ap.add_argument("--out", type=Path, default=REPO / "tests/data/eval/reference-loglik-pyshakes-15m.json")
    ap.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    args = ap.parse_args()

    import torch
    import transformers
    from transformers import LlamaForCausalLM

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    model = LlamaForCausalLM.from_pretrained(str(args.model), dtype=torch.float32,
                                             attn_implementation="eager", local_files_only=True)
    model = model.to(device).eval()
    max_length = model.config.max_position_embeddings
    tokenizer_name, encode, bos = load_tokenizer(args.model)
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, device {device}, "
          f"tokenizer {tokenizer_name}, BOS {bos}, max_length {max_length}", flush=True)

    raw = args.requests.read_bytes()
    requests = [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]
    results = []
    mismatches = 0
    for r in requests:
        loglik, greedy = score(model, device, r["tokens"], r["continuation_tokens"])
        row = dict(task=r["task"], item=r["item"], choice=r["choice"], loglik=loglik, greedy=greedy)
        hf, hf_cont = harness_tokens(encode, bos, r["context"], r["continuation"], max_length)
        row["tokens_match"] = hf == r["tokens"] and hf_cont == r["continuation_tokens"]
        if not row["tokens_match"]:
            mismatches += 1
            row["hf_tokens"] = hf
            row["hf_continuation_tokens"] = hf_cont
            row["hf_loglik"], row["hf_greedy"] = score(model, device, hf, hf_cont)
        results.append(row)
        print(json.dumps({k: row[k] for k in ("task", "item", "choice", "loglik", "greedy", "tokens_match")}), flush=True)

    versions = {"python": platform.python_version(), "torch": torch.__version__,
                "transformers": transformers.__version__}
    try:
        import sentencepiece
        versions["sentencepiece"] = sentencepiece.__version__
    except ImportError:
        pass
    out = {
        "generated_by": "tools/golden/reference_loglik.py",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "device": device if device == "cpu" else torch.cuda.get_device_name(0),
        "versions": versions,
        "model": str(args.model.relative_to(REPO)) if args.model.is_relative_to(REPO) else str(args.model),
        "dtype": "float32 (weights F16 on disk), eager attention, TF32 off; log_softmax in float64",
        "tokenizer": tokenizer_name,
        "requests_file": str(args.requests.relative_to(REPO)) if args.requests.is_relative_to(REPO) else str(args.requests),
        "requests_sha256": hashlib.sha256(raw).hexdigest(),
        "token_mismatches": mismatches,
        "results": results,
    }
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}: {len(results)} requests, {mismatches} tokenization mismatches", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
