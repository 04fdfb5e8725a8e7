#!/usr/bin/env python3
"""Golden logits from Hugging Face transformers for bitfold's forward-pass test.

Run once, on a machine with torch + transformers + safetensors + numpy (+ sentencepiece), from the
repository root, with no network:

    python3 tools/golden/make_golden.py            # writes tests/data/golden/

On the GPU machine, where only a few files come back, write elsewhere and bring back one archive:

    python3 tools/golden/make_golden.py --out /tmp/golden 2>&1 | tee $OUT/make_golden.log;
    tar -C /tmp -cf $OUT/golden.tar golden
    # here: tar -C tests/data -xf golden.tar && git add tests/data/golden

The files are meant to live in tests/data/golden/ whatever --out says: the manifest names the two
random checkpoints as tests/data/golden/tiny-*.

For each model it writes `<name>.safetensors` holding the token ids it ran, the F32 logits at every
position (all vocabulary columns for small vocabularies, a fixed subset for 32k ones), the argmax
and log-sum-exp of each position over the whole vocabulary; and `manifest.json` describing them.
The models:

  pyshakes-15m-hf  models/pyshakes-15m-hf (bundled HF directory, F16 weights, loaded as F32)
  stories260K      models/stories260K/stories260K.bin, converted to a HF model HERE, in numpy
                   (llama2.c header and weights read directly; q/k rows permuted from
                   interleaved pairs to rotate-half), independent of bitfold's C++ loader; checked
                   against greedy-200.ids when that file is present
  tiny-gqa         random HF Llama, GQA (4 heads / 2 KV heads), untied lm_head, saved here in F32
  tiny-tied        random HF Llama, no GQA, tied embeddings, rope_theta 500000, saved here in F32

Everything runs in float32 with eager attention and TF32 off. Each model is done independently:
a failure is reported loudly, the others are still written, and the exit status is 1.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import inspect
import json
import os
import platform
import sys
import traceback
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[2]
GOLDEN_IN_REPO = "tests/data/golden"  # where the outputs are committed
SEQ_LEN = 24          # tokens per golden sequence, BOS first
FULL_VOCAB_MAX = 4096  # up to this vocabulary size every logit column is stored
COLUMN_STRIDE = 16     # larger vocabularies: every 16th column ...
TOP_COLUMNS = 8        # ... plus each position's 8 largest logits
MAX_FILE_BYTES = 300 * 1024


def log(msg: str) -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------------------------
# llama2.c checkpoint → Hugging Face state dict (numpy only)

def read_llama2c(path: Path):
    """Reads a llama2.c legacy checkpoint: 7 int32 header then F32 weights (run.c's order)."""
    import numpy as np

    raw = path.read_bytes()
    header = np.frombuffer(raw, dtype="<i4", count=7)
    dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len = (int(v) for v in header)
    shared = vocab > 0
    vocab = abs(vocab)
    hd = dim // n_heads
    kv_dim = n_kv_heads * hd
    data = np.frombuffer(raw, dtype="<f4", offset=7 * 4)
    pos = 0

    def take(*shape):
        nonlocal pos
        n = int(np.prod(shape))
        if pos + n > data.size:
            raise ValueError(f"{path}: truncated while reading a {shape} tensor")
        out = data[pos:pos + n].reshape(shape).astype(np.float32)
        pos += n
        return out

    w = {}
    w["tok"] = take(vocab, dim)
    w["rms_att"] = take(n_layers, dim)
    w["wq"] = take(n_layers, n_heads * hd, dim)
    w["wk"] = take(n_layers, kv_dim, dim)
    w["wv"] = take(n_layers, kv_dim, dim)
    w["wo"] = take(n_layers, dim, n_heads * hd)
    w["rms_ffn"] = take(n_layers, dim)
    w["w1"] = take(n_layers, hidden, dim)   # gate
    w["w2"] = take(n_layers, dim, hidden)   # down
    w["w3"] = take(n_layers, hidden, dim)   # up
    w["rms_final"] = take(dim)
    take(seq_len, hd // 2)  # freq_cis_real (unused: RoPE is recomputed)
    take(seq_len, hd // 2)  # freq_cis_imag
    if shared:
        w["cls"] = w["tok"]
    else:
        w["cls"] = take(vocab, dim)
    if pos != data.size:
        raise ValueError(f"{path}: {data.size - pos} floats left over after the weights")
    cfg = dict(dim=dim, hidden=hidden, n_layers=n_layers, n_heads=n_heads, n_kv_heads=n_kv_heads,
               vocab=vocab, seq_len=seq_len, shared=shared)
    return cfg, w


def interleaved_to_rotate_half(w, n_heads: int):
    """Rows of a q/k projection from llama2.c/Meta RoPE order (pairs 2i, 2i+1 of each head) to
    Hugging Face's (pairs i, i + head_dim/2): HF row h·hd + r·hd/2 + j = Meta row h·hd + 2j + r."""
    rows, cols = w.shape
    hd = rows // n_heads
    return w.reshape(n_heads, hd // 2, 2, cols).transpose(0, 2, 1, 3).reshape(rows, cols)


def llama2c_state_dict(cfg, w):
    import numpy as np

    sd = {"model.embed_tokens.weight": w["tok"], "model.norm.weight": w["rms_final"],
          "lm_head.weight": w["cls"]}
    for l in range(cfg["n_layers"]):
        p = f"model.layers.{l}."
        sd[p + "input_layernorm.weight"] = w["rms_att"][l]
        sd[p + "self_attn.q_proj.weight"] = interleaved_to_rotate_half(w["wq"][l], cfg["n_heads"])
        sd[p + "self_attn.k_proj.weight"] = interleaved_to_rotate_half(w["wk"][l], cfg["n_kv_heads"])
        sd[p + "self_attn.v_proj.weight"] = w["wv"][l]
        sd[p + "self_attn.o_proj.weight"] = w["wo"][l]
        sd[p + "post_attention_layernorm.weight"] = w["rms_ffn"][l]
        sd[p + "mlp.gate_proj.weight"] = w["w1"][l]
        sd[p + "mlp.up_proj.weight"] = w["w3"][l]
        sd[p + "mlp.down_proj.weight"] = w["w2"][l]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


# --------------------------------------------------------------------------------------------
# transformers helpers, tolerant of the 4.x → 5.x API changes

def make_config(**kw):
    from transformers import LlamaConfig

    params = inspect.signature(LlamaConfig.__init__).parameters
    theta = kw.pop("rope_theta")
    if "rope_parameters" in params:
        kw["rope_parameters"] = {"rope_type": "default", "rope_theta": theta}
    else:
        kw["rope_theta"] = theta
    kw.setdefault("hidden_act", "silu")
    kw.setdefault("attention_bias", False)
    kw.setdefault("mlp_bias", False)
    try:
        cfg = LlamaConfig(attn_implementation="eager", **kw)
    except TypeError:
        cfg = LlamaConfig(**kw)
        cfg._attn_implementation = "eager"
    return cfg


def model_from_config(cfg):
    import torch
    from transformers import LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg)
    return model.to(torch.float32).eval()


def load_pretrained(path: Path):
    import torch
    from transformers import LlamaForCausalLM

    base = dict(local_files_only=True, attn_implementation="eager", output_loading_info=True)
    attempts = [dict(base, dtype=torch.float32), dict(base, torch_dtype=torch.float32)]
    last_error = None
    for kwargs in attempts:
        try:
            model, info = LlamaForCausalLM.from_pretrained(str(path), **kwargs)
            break
        except TypeError as e:  # an argument this version does not know
            last_error = e
    else:
        raise RuntimeError(f"{path}: from_pretrained failed: {last_error}")
    tied = bool(getattr(model.config, "tie_word_embeddings", False))
    bad = {}
    for key in ("missing_keys", "unexpected_keys", "mismatched_keys"):
        found = [k for k in (info.get(key) or []) if not (tied and "lm_head" in str(k))]
        if found:
            bad[key] = found
    if bad:
        raise RuntimeError(f"{path}: loading reported {bad}")
    if tied and not torch.equal(model.lm_head.weight, model.model.embed_tokens.weight):
        raise RuntimeError(f"{path}: tie_word_embeddings but lm_head differs from the embedding")
    model = model.to(torch.float32).eval()
    for name, p in model.named_parameters():
        if p.dtype != torch.float32:
            raise RuntimeError(f"{path}: parameter {name} is {p.dtype}, expected float32")
    return model


def save_pretrained_f32(model, out_dir: Path):
    params = inspect.signature(model.save_pretrained).parameters
    kwargs = {}
    if "safe_serialization" in params:
        kwargs["safe_serialization"] = True
    model.save_pretrained(str(out_dir), **kwargs)
    files = sorted(p.name for p in out_dir.iterdir())
    if "model.safetensors" not in files or "config.json" not in files:
        raise RuntimeError(f"{out_dir}: save_pretrained wrote {files}, expected config.json and "
                           "model.safetensors")
    import numpy as np
    from safetensors.numpy import load_file

    for k, v in load_file(str(out_dir / "model.safetensors")).items():
        if v.dtype != np.float32:
            raise RuntimeError(f"{out_dir}/model.safetensors: {k} saved as {v.dtype}, expected F32")
    # Only what bitfold reads: generation_config.json and the like are left out of the repo.
    for extra in files:
        if extra not in ("config.json", "model.safetensors"):
            (out_dir / extra).unlink()


def check_rope_theta(model, theta: float, head_dim: int, name: str):
    """The rotary embedding must use the theta we meant (config spelling changed in v5)."""
    import torch

    inv_freq = None
    for mod_name, buf in model.named_buffers():
        if mod_name.endswith("inv_freq"):
            inv_freq = buf.detach().float().cpu()
            break
    if inv_freq is None:
        log(f"  [{name}] note: no inv_freq buffer found; cannot check rope_theta")
        return
    expected = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    if not torch.allclose(inv_freq, expected, rtol=1e-6, atol=0):
        raise RuntimeError(f"{name}: rotary inv_freq does not match rope_theta {theta}: "
                           f"{inv_freq[:4].tolist()} vs {expected[:4].tolist()}")


def logits_of(model, ids):
    import torch

    with torch.no_grad():
        x = torch.tensor([ids], dtype=torch.long, device=next(model.parameters()).device)
        out = model(input_ids=x, use_cache=False).logits[0]
    return out.detach().to("cpu", torch.float32).numpy()


def greedy(model, n: int, bos: int):
    """Greedy continuation from BOS, recomputing the whole sequence each step (no cache)."""
    seq = [bos]
    for _ in range(n):
        seq.append(int(logits_of(model, seq)[-1].argmax()))
    return seq


# --------------------------------------------------------------------------------------------

def token_ids(vocab: int, bos: int, seed: int, spm_path: Path | None, text: str):
    """BOS + SEQ_LEN-1 ids: the sentencepiece encoding of `text` when possible, padded (or
    replaced) with seeded random ids in [3, vocab)."""
    import numpy as np

    ids = [bos]
    if spm_path is not None and spm_path.exists():
        try:
            import sentencepiece as spm

            sp = spm.SentencePieceProcessor(model_file=str(spm_path))
            ids += [int(i) for i in sp.encode(text)][: SEQ_LEN - 1]
            log(f"  tokens from {spm_path.name}: {len(ids) - 1} text tokens")
        except Exception as e:  # noqa: BLE001 - any failure: fall back to random ids
            log(f"  note: sentencepiece encoding failed ({e}); using random ids")
    rng = np.random.default_rng(seed)
    while len(ids) < SEQ_LEN:
        ids.append(int(rng.integers(3, vocab)))
    if any(not (0 <= i < vocab) for i in ids):
        raise RuntimeError(f"token ids outside the vocabulary of {vocab}: {ids}")
    return ids


def write_golden(out_dir: Path, name: str, ids, logits, meta: dict):
    import numpy as np
    from safetensors.numpy import save_file

    T, V = logits.shape
    lse = np.log(np.exp(logits.astype(np.float64) - logits.max(1, keepdims=True)).sum(1)) + logits.max(1)
    argmax = logits.argmax(1).astype(np.int32)
    if V <= FULL_VOCAB_MAX:
        cols = np.arange(V, dtype=np.int32)
    else:
        top = np.argsort(-logits, axis=1)[:, :TOP_COLUMNS].reshape(-1)
        cols = np.unique(np.concatenate([np.arange(0, V, COLUMN_STRIDE), top])).astype(np.int32)
    tensors = {
        "tokens": np.asarray(ids, dtype=np.int32),
        "columns": cols,
        "logits": np.ascontiguousarray(logits[:, cols], dtype=np.float32),
        "argmax": argmax,
        "logsumexp": lse.astype(np.float64),
    }
    path = out_dir / f"{name}.safetensors"
    save_file(tensors, str(path), metadata={k: str(v) for k, v in meta.items()})
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise RuntimeError(f"{path}: {size} bytes, over the {MAX_FILE_BYTES} limit")
    log(f"  wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path} ({size} bytes; "
        f"{T} positions, {len(cols)} of {V} columns; argmax {argmax.tolist()[:8]}...)")
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def first_existing(*paths):
    for p in paths:
        if p is not None and Path(p).exists():
            return Path(p)
    return None


# --------------------------------------------------------------------------------------------
# The four models

def do_pyshakes(args, out_dir):
    path = first_existing(args.pyshakes, REPO / "models/pyshakes-15m-hf",
                          REPO.parent / "shared/data/models/pyshakes-15m-hf")
    if path is None:
        raise FileNotFoundError("models/pyshakes-15m-hf not found (use --pyshakes)")
    log(f"  model: {path}")
    model = load_pretrained(path).to(args.device)
    cfg = model.config
    ids = token_ids(cfg.vocab_size, 1, 15, path / "tokenizer.model",
                    "ROMEO:\nBut soft, what light through yonder window breaks?\nIt is the east, "
                    "and Juliet is the sun.")
    logits = logits_of(model, ids)
    meta = {"model": rel(path), "format": "hf",
            "model_sha256": sha256(path / "model.safetensors")}
    write_golden(out_dir, "pyshakes-15m-hf", ids, logits, meta)
    return meta


def do_stories(args, out_dir):
    import torch

    path = first_existing(args.stories260k, REPO / "models/stories260K/stories260K.bin",
                          REPO.parent / "shared/data/models/stories260K/stories260K.bin")
    if path is None:
        raise FileNotFoundError("models/stories260K/stories260K.bin not found (use --stories260k)")
    log(f"  model: {path}")
    cfg, w = read_llama2c(path)
    log(f"  header: {cfg}")
    hf_cfg = make_config(vocab_size=cfg["vocab"], hidden_size=cfg["dim"],
                         intermediate_size=cfg["hidden"], num_hidden_layers=cfg["n_layers"],
                         num_attention_heads=cfg["n_heads"], num_key_value_heads=cfg["n_kv_heads"],
                         max_position_embeddings=cfg["seq_len"], rms_norm_eps=1e-5,
                         rope_theta=10000.0, tie_word_embeddings=cfg["shared"], bos_token_id=1,
                         eos_token_id=2)
    model = model_from_config(hf_cfg)
    sd = {k: torch.from_numpy(v.copy()) for k, v in llama2c_state_dict(cfg, w).items()}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if not (cfg["shared"] and k == "lm_head.weight")]
    if missing or unexpected:
        raise RuntimeError(f"state dict mismatch: missing {missing}, unexpected {unexpected}")
    if not torch.equal(model.lm_head.weight, sd["lm_head.weight"]):
        raise RuntimeError("lm_head.weight was not loaded")
    model = model.to(torch.float32).to(args.device).eval()
    check_rope_theta(model, 10000.0, cfg["dim"] // cfg["n_heads"], "stories260K")

    # The conversion is right if greedy decoding reproduces llama2.c's run.c.
    golden = first_existing(path.parent / "greedy-200.ids")
    meta = {"model": rel(path), "format": "llama2c", "model_sha256": sha256(path),
            "rope_theta": 10000.0}
    if golden is not None:
        want = [int(t) for t in golden.read_text().split()]
        got = greedy(model, len(want) - 1, want[0])
        agree = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), len(want))
        log(f"  greedy check vs {golden.name}: {agree} of {len(want)} ids agree")
        if agree < len(want):
            raise RuntimeError(f"HF conversion of stories260K diverges from greedy-200.ids at "
                               f"position {agree}: got {got[agree]}, want {want[agree]}")
        meta["greedy_check"] = f"{len(want)} of {len(want)} ids of greedy-200.ids reproduced"
    else:
        log("  WARNING: greedy-200.ids not found beside the model: conversion not cross-checked")
        meta["greedy_check"] = "not run (greedy-200.ids absent)"
    spm_path = first_existing(path.parent / "tok512.model",
                              REPO.parent / "shared/data/models/stories260K/tok512.model")
    ids = token_ids(cfg["vocab"], 1, 260, spm_path,
                    "Once upon a time, there was a little girl named Lily. She loved to play "
                    "outside in the park.")
    write_golden(out_dir, "stories260K", ids, logits_of(model, ids), meta)
    return meta


def randomize(model, seed: int):
    """Weights with O(1) activations (the default 0.02 init gives near-uniform logits)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 1:  # RMSNorm γ
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif "embed_tokens" in name:
                p.copy_(torch.randn(p.shape, generator=g))
            else:  # [out, in] linear
                p.copy_(torch.randn(p.shape, generator=g) / p.shape[1] ** 0.5)


def do_tiny(args, out_dir, name, seed, **kw):
    import numpy as np

    theta = kw["rope_theta"]
    cfg = make_config(**kw)
    model = model_from_config(cfg)
    randomize(model, seed)
    if kw.get("tie_word_embeddings"):
        model.lm_head.weight = model.model.embed_tokens.weight  # tied for certain
    elif model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr():
        raise RuntimeError(f"{name}: lm_head is tied but should not be")
    model_dir = out_dir / name
    model_dir.mkdir(parents=True, exist_ok=True)
    save_pretrained_f32(model, model_dir)
    for f in model_dir.iterdir():
        if f.stat().st_size > MAX_FILE_BYTES:
            raise RuntimeError(f"{f}: {f.stat().st_size} bytes, over the {MAX_FILE_BYTES} limit")
    log(f"  saved {rel(model_dir)}: " + ", ".join(f"{f.name} {f.stat().st_size} B"
                                                    for f in sorted(model_dir.iterdir())))
    log(f"  config.json: {json.loads((model_dir / 'config.json').read_text())}")

    # Golden logits from the checkpoint as saved and reloaded, which must equal the in-memory one.
    reloaded = load_pretrained(model_dir).to(args.device)
    check_rope_theta(reloaded, theta, kw["hidden_size"] // kw["num_attention_heads"], name)
    ids = token_ids(kw["vocab_size"], 1, seed, None, "")
    logits = logits_of(reloaded, ids)
    direct = logits_of(model.to(args.device), ids)
    diff = float(np.abs(logits - direct).max())
    log(f"  reloaded vs in-memory logits: max diff {diff}")
    if not np.allclose(logits, direct, rtol=1e-5, atol=1e-5):
        raise RuntimeError(f"{name}: the reloaded checkpoint gives different logits (max diff {diff})")
    meta = {"model": f"{GOLDEN_IN_REPO}/{name}", "format": "hf",
            "model_sha256": sha256(model_dir / "model.safetensors"),
            "torch_seed": str(seed), "rope_theta": theta}
    write_golden(out_dir, name, ids, logits, meta)
    return meta


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / GOLDEN_IN_REPO)
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    ap.add_argument("--pyshakes", type=Path, default=None, help="pyshakes-15m-hf directory")
    ap.add_argument("--stories260k", type=Path, default=None, help="stories260K.bin")
    args = ap.parse_args()

    log(f"make_golden.py  {datetime.datetime.now(datetime.timezone.utc).isoformat()}")
    log(f"python {sys.version.split()[0]} on {platform.platform()}")
    versions = {"python": sys.version.split()[0]}
    try:
        import numpy
        import safetensors
        import torch
        import transformers
    except ImportError as e:
        log(f"FATAL: missing Python package: {e}")
        return 1
    versions.update(numpy=numpy.__version__, torch=torch.__version__,
                    transformers=transformers.__version__, safetensors=safetensors.__version__)
    try:
        import sentencepiece

        versions["sentencepiece"] = sentencepiece.__version__
    except ImportError:
        versions["sentencepiece"] = "absent (random token ids are used)"
    for k, v in versions.items():
        log(f"  {k} {v}")

    torch.set_grad_enabled(False)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        log("FATAL: --device cuda but torch sees no GPU")
        return 1
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or "cpu"
    log(f"device: {args.device} ({device_name})")

    out_dir = args.out.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [
        ("pyshakes-15m-hf", lambda: do_pyshakes(args, out_dir)),
        ("stories260K", lambda: do_stories(args, out_dir)),
        # GQA, untied; head_dim 12. ~290 KB of F32 weights.
        ("tiny-gqa", lambda: do_tiny(args, out_dir, "tiny-gqa", 1234, vocab_size=320,
                                     hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                                     num_attention_heads=4, num_key_value_heads=2,
                                     max_position_embeddings=128, rms_norm_eps=1e-5,
                                     rope_theta=10000.0, tie_word_embeddings=False,
                                     bos_token_id=1, eos_token_id=2)),
        # No GQA, tied embeddings, head_dim 16, another theta and eps. ~250 KB.
        ("tiny-tied", lambda: do_tiny(args, out_dir, "tiny-tied", 5678, vocab_size=320,
                                      hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                                      num_attention_heads=3, num_key_value_heads=3,
                                      max_position_embeddings=128, rms_norm_eps=1e-6,
                                      rope_theta=500000.0, tie_word_embeddings=True,
                                      bos_token_id=1, eos_token_id=2)),
    ]
    manifest = {"generated_by": "tools/golden/make_golden.py",
                "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                "device": f"{args.device} ({device_name})", "versions": versions,
                "seq_len": SEQ_LEN, "models": {}}
    failures = []
    for name, job in jobs:
        log(f"== {name}")
        try:
            meta = job()
            meta["logits_file"] = f"{name}.safetensors"
            manifest["models"][name] = meta
            log("  OK")
        except Exception as e:  # noqa: BLE001 - report, carry on with the others
            traceback.print_exc()
            log(f"  FAILED: {name}: {e}")
            failures.append(name)
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    log(f"wrote {out_dir / 'manifest.json'}")
    if failures:
        log(f"FAILED: {', '.join(failures)} (the others were written)")
        return 1
    log("all golden files written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
