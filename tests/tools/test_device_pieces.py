#!/usr/bin/env python3
"""tools/device/{pack,unpack}-model.py: a model split into pieces comes back byte for byte, only
once every piece is in, and a corrupted piece is refused."""
import os
import random
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACK = REPO / "tools" / "device" / "pack-model.py"
UNPACK = REPO / "tools" / "device" / "unpack-model.py"


class Pieces(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp())
        self.name = f"test{os.getpid()}"
        model = self.tmp / "model"
        model.mkdir()
        # F16-like bytes: a compressible high byte, a noisy low byte.
        noise = random.Random(1).randbytes(100_000)
        weights = bytearray()
        for i, low in enumerate(noise):
            weights += bytes([low, 0x3C + (i % 3)])
        (model / "model.safetensors").write_bytes(weights)
        (model / "config.json").write_text('{"dim": 8}')
        self.model = model
        self.work = self.tmp / "work"
        self.work.mkdir()

    def tearDown(self):
        shutil.rmtree(self.tmp)
        shutil.rmtree(Path("/tmp/pieces") / self.name, ignore_errors=True)

    def run_in_work(self, *cmd):
        return subprocess.run([sys.executable, *map(str, cmd)], cwd=self.work, capture_output=True, text=True)

    def test_round_trip_needs_every_piece(self):
        r = self.run_in_work(PACK, self.model, self.name, 1000, 20_000)
        self.assertEqual(r.returncode, 0, r.stderr)
        pieces = sorted((self.work / ".carry").glob(f"{self.name}-*"))
        self.assertGreater(len(pieces), 2)
        stash = self.tmp / "stash"
        shutil.move(str(pieces[1]), stash)  # one piece not carried yet
        dest = self.tmp / "out"
        r = self.run_in_work(UNPACK, self.name, dest)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("pieces in", r.stdout)
        self.assertFalse(dest.exists())
        for p in pieces:
            if p.exists():
                shutil.rmtree(p)
        shutil.move(str(stash), pieces[1])  # the next call carries only the missing one
        r = self.run_in_work(UNPACK, self.name, dest)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("sha256 ok", r.stdout)
        for f in ("model.safetensors", "config.json"):
            self.assertEqual((dest / f).read_bytes(), (self.model / f).read_bytes(), f)

    def test_single_fp32_file_round_trips(self):
        weights = self.tmp / "tiny.bin"
        weights.write_bytes(random.Random(2).randbytes(40_000))
        r = self.run_in_work(PACK, weights, self.name, 1000, 10_000)
        self.assertEqual(r.returncode, 0, r.stderr)
        dest = self.tmp / "models"
        r = self.run_in_work(UNPACK, self.name, dest)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual((dest / "tiny.bin").read_bytes(), weights.read_bytes())
        self.assertEqual(sorted(p.name for p in dest.iterdir()), ["tiny.bin"])

    def test_corrupt_piece_is_refused(self):
        self.assertEqual(self.run_in_work(PACK, self.model, self.name, 1000, 20_000).returncode, 0)
        manifest_dir = sorted((self.work / ".carry").glob(f"{self.name}-*"))[-1]
        (manifest_dir / "config.json").write_text('{"dim": 9}')
        r = self.run_in_work(UNPACK, self.name, self.tmp / "out")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("config.json does not match", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
