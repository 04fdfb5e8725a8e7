#!/usr/bin/env python3
"""THERE: collect the carried pieces of tools/device/pack-model.py; assemble when all are in.

    tools/device/unpack-model.py NAME DEST

Copies every .carry/NAME-*/ piece present in this call to /tmp/pieces/NAME (kept between calls
while the machine stays warm); once the manifest and every piece are there, writes the weights
file and the small files into the folder DEST and checks their sha256. Prints what is missing.
"""
import hashlib
import json
import lzma
import shutil
import sys
from pathlib import Path


def main() -> None:
    name, dest = sys.argv[1], Path(sys.argv[2])
    store = Path("/tmp/pieces") / name
    store.mkdir(parents=True, exist_ok=True)
    for d in sorted(Path(".carry").glob(f"{name}-*")):
        index = d.name.rsplit("-", 1)[1]
        for f in d.iterdir():
            target = store / (f"part-{int(index):03d}" if f.name == "part" else f.name)
            shutil.copyfile(f, target)
    manifest_file = store / "manifest.json"
    have = sorted(store.glob("part-*"))
    if not manifest_file.exists():
        print(f"{name}: {len(have)} piece(s) in, manifest not yet")
        return
    manifest = json.loads(manifest_file.read_text())
    if len(have) < manifest["pieces"]:
        print(f"{name}: {len(have)} of {manifest['pieces']} pieces in")
        return
    shuffled = lzma.decompress(b"".join(p.read_bytes() for p in have))
    stride = manifest.get("stride", 2)
    plane = len(shuffled) // stride
    raw = bytearray(len(shuffled))
    for i in range(stride):
        raw[i::stride] = shuffled[i * plane:(i + 1) * plane]
    if len(raw) != manifest["weights_bytes"] or hashlib.sha256(raw).hexdigest() != manifest["weights_sha256"]:
        sys.exit(f"{name}: the assembled weights do not match the manifest's sha256")
    dest.mkdir(parents=True, exist_ok=True)
    (dest / manifest.get("weights_name", "model.safetensors")).write_bytes(raw)
    for file, digest in manifest["files"].items():
        data = (store / file).read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            sys.exit(f"{name}: {file} does not match the manifest's sha256")
        (dest / file).write_bytes(data)
    print(f"{name}: assembled into {dest} ({len(raw)} bytes, sha256 ok)")


if __name__ == "__main__":
    main()
