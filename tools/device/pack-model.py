#!/usr/bin/env python3
"""Split a Hugging Face model directory into pieces small enough to carry to the GPU machine.

HERE:   tools/device/pack-model.py MODEL NAME FIRST_BYTES REST_BYTES
        (MODEL: a Hugging Face directory, whose model.safetensors is split and whose small files
        ride along, or a single weights file such as a llama2.c .bin)
        writes .carry/NAME-0/part, .carry/NAME-1/part, ... (ignored by git), each the next slice of
        one xz stream; the last directory also holds the small files and a manifest.
THERE:  tools/device/unpack-model.py NAME DEST, once per call that carries a piece; when every
        piece has arrived it writes the files into the folder DEST and checks their sha256.

Why: a call carries the working tree and at most 64 MiB in all, and the 57M model is 110 MB. The
bytes of each weight are stored apart before compression (stride 2 for F16 safetensors, 4 for
FP32 llama2.c files): the high bytes (sign, exponent) compress well, the mixture does not (57M
F16: 92 MB instead of 102 MB with xz).
"""
import hashlib
import lzma
import sys
from pathlib import Path
import json


def main() -> None:
    model, name, first, rest = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    weights = model / "model.safetensors" if model.is_dir() else model
    stride = 2 if weights.suffix == ".safetensors" else 4
    raw = weights.read_bytes()
    if len(raw) % stride:
        sys.exit(f"{weights}: size {len(raw)} is not a multiple of {stride} bytes")
    packed = lzma.compress(b"".join(raw[i::stride] for i in range(stride)), preset=6)
    pieces = [packed[:first]]
    for start in range(first, len(packed), rest):
        pieces.append(packed[start:start + rest])
    small = [p for p in sorted(model.iterdir()) if p.name != "model.safetensors"] if model.is_dir() else []
    manifest = {
        "pieces": len(pieces),
        "weights_name": weights.name,
        "stride": stride,
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
