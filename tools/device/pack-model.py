#!/usr/bin/env python3
"""Split a Hugging Face model directory into pieces small enough to carry to the GPU machine.

HERE:   tools/device/pack-model.py MODEL_DIR NAME FIRST_BYTES REST_BYTES
        writes .carry/NAME-0/part, .carry/NAME-1/part, ... (ignored by git), each the next slice of
        one xz stream; the last directory also holds the small files and a manifest.
THERE:  tools/device/unpack-model.py NAME DEST, once per call that carries a piece; when every
        piece has arrived it writes DEST and checks the sha256 of every file.

Why: a call carries the working tree and at most 64 MiB in all, and the 57M model is 110 MB. The
F16 weights' even (low) and odd (high) bytes are stored apart before compression: the high bytes
(sign, exponent) compress well, the mixture does not (xz: 92 MB instead of 102 MB).
"""
import hashlib
import lzma
import sys
from pathlib import Path
import json


def main() -> None:
    model, name, first, rest = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    weights = model / "model.safetensors"
    raw = weights.read_bytes()
    if len(raw) % 2:
        sys.exit(f"{weights}: odd size, not F16 weights")
    packed = lzma.compress(raw[0::2] + raw[1::2], preset=6)
    pieces = [packed[:first]]
    for start in range(first, len(packed), rest):
        pieces.append(packed[start:start + rest])
    small = [p for p in sorted(model.iterdir()) if p.name != "model.safetensors"]
    manifest = {
        "pieces": len(pieces),
        "files": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in small},
        "weights_sha256": hashlib.sha256(raw).hexdigest(),
        "weights_bytes": len(raw),
    }
    root = Path(".carry")
    for i, piece in enumerate(pieces):
        d = root / f"{name}-{i}"
        d.mkdir(parents=True, exist_ok=True)
        for old in d.iterdir():
            old.unlink()
        (d / "part").write_bytes(piece)
    last = root / f"{name}-{len(pieces) - 1}"
    for p in small:
        (last / p.name).write_bytes(p.read_bytes())
    (last / "manifest.json").write_text(json.dumps(manifest, indent=1))
    for i, piece in enumerate(pieces):
        print(f".carry/{name}-{i}: {len(piece)} bytes")


if __name__ == "__main__":
    main()
