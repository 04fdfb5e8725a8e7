#!/usr/bin/env python3
"""Perplexity of a Hugging Face Llama directory with transformers, in bitfold's convention.

An independent check of `bitfold ppl` (run on a machine with torch + transformers + sentencepiece;
no network). The convention (README "Perplexity"): encode the whole file as one string with the
model's sentencepiece tokenizer, prepend one BOS, cut into non-overlapping windows of `ctx` tokens,
drop the incomplete tail, and score every token of a window but its first given the tokens before
it in that window; ppl = exp(mean NLL). FP32 weights and math, eager attention, TF32 off.

    python3 reference_ppl.py MODEL_DIR TEXT [TEXT ...] [--ctx N] [--device cuda] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path)
    ap.add_argument("texts", type=Path, nargs="+")
    ap.add_argument("--ctx", type=int, default=0, help="window (default: model context, max 2048)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    import sentencepiece as spm
    import torch
    from transformers import LlamaForCausalLM

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    model = LlamaForCausalLM.from_pretrained(str(args.model), dtype=torch.float32,
                                             attn_implementation="eager", local_files_only=True)
    model = model.to(args.device).eval()
    sp = spm.SentencePieceProcessor(model_file=str(args.model / "tokenizer.model"))
    ctx = args.ctx or min(model.config.max_position_embeddings, 2048)
    bos = model.config.bos_token_id
    print(f"torch {torch.__version__}, model {args.model.name}, ctx {ctx}, bos {bos}", flush=True)

    results = []
    for text_path in args.texts:
        text = text_path.read_text(encoding="utf-8")
        ids = [bos] + sp.encode(text)
        windows = len(ids) // ctx
        nll_sum = 0.0
        scored = 0
        with torch.no_grad():
            for w in range(windows):
                chunk = torch.tensor([ids[w * ctx:(w + 1) * ctx]], device=args.device)
                logits = model(input_ids=chunk, use_cache=False).logits[0].double()
                logp = torch.log_softmax(logits[:-1], dim=-1)
                target = chunk[0, 1:]
                nll_sum += float(-logp.gather(1, target[:, None]).sum())
                scored += ctx - 1
        ppl = math.exp(nll_sum / scored)
        row = dict(model=args.model.name, text=text_path.name, ctx=ctx, tokens=len(ids),
                   windows=windows, scored=scored, mean_nll=nll_sum / scored, ppl=ppl)
        print(json.dumps(row), flush=True)
        results.append(row)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
