#!/usr/bin/env python3
"""tools/results: verdicts, the baseline comparison, --merge, and that the committed table is the
script's rendering of the committed numbers."""
import copy
import importlib.machinery
import importlib.util
import json
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tools" / "results"
loader = importlib.machinery.SourceFileLoader("results_tool", str(SCRIPT))
spec = importlib.util.spec_from_loader("results_tool", loader)
results = importlib.util.module_from_spec(spec)
loader.exec_module(results)


def committed() -> dict:
    return json.loads((REPO / "docs" / "results.json").read_text())


def ppl_row(kl_test: float, kl_wiki: float, ppl: float = 20.0) -> dict:
    return {"ppl": {"test.txt": {"ppl": ppl, "kl": {"mean": kl_test}},
                    "WikiText-2": {"ppl": ppl, "kl": {"mean": kl_wiki}}}}


class Verdicts(unittest.TestCase):
    def test_band(self):
        self.assertEqual(results.verdict_of([0.98, 0.5]), "beats")
        self.assertEqual(results.verdict_of([1.0, 1.009]), "ties")
        self.assertEqual(results.verdict_of([1.02, 1.5]), "loses")
        self.assertEqual(results.verdict_of([0.98, 1.0]), "beats or ties")
        self.assertEqual(results.verdict_of([1.0, 1.02]), "ties or loses")
        self.assertEqual(results.verdict_of([0.98, 1.02]), "mixed")


class BaselineComparison(unittest.TestCase):
    def test_ratio_to_the_better_baseline_per_text(self):
        key = results.row_key
        rows = {
            key("pyshakes-15m-hf", "RTN static", "W4A4"): ppl_row(0.4, 1.0),
            key("pyshakes-15m-hf", "SmoothQuant static", "W4A4"): ppl_row(0.5, 0.8),
            key("pyshakes-15m-hf", "MergeQuant static", "W4A4"): ppl_row(0.2, 0.88, 10.0),
        }
        text = "\n".join(results.baseline_comparison(rows))
        # test.txt: 0.2 / min(0.4, 0.5); WikiText-2: 0.88 / min(1.0, 0.8) = 1.1 -> mixed.
        self.assertIn("**mixed** KL ×0.500 / ×1.100, ppl ×0.500 / ×0.500", text)
        self.assertIn("**pyshakes-15m-hf**", text)
        self.assertNotIn("**stories260K**", text)  # no rows, no table

    def test_missing_baseline_leaves_the_cell_empty(self):
        key = results.row_key
        rows = {key("stories260K", "MergeQuant static", "W8A8"): ppl_row(0.01, 0.01)}
        text = "\n".join(results.baseline_comparison(rows))
        self.assertNotIn("KL ×", text)
        self.assertNotIn("**stories260K**", text)


class CommittedTable(unittest.TestCase):
    def test_results_md_is_the_rendering_of_results_json(self):
        doc = committed()
        self.assertEqual((REPO / "docs" / "results.md").read_text(), results.render(doc),
                         "docs/results.md differs from `tools/results --render` of docs/results.json")

    def test_every_committed_row_was_measured_under_the_doc_settings(self):
        doc = committed()
        for key, row in doc["rows"].items():
            self.assertEqual(row["settings"], doc["settings"], key)


class Merge(unittest.TestCase):
    def run_tool(self, out: Path, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(SCRIPT), "--bitfold", sys.executable, "--out", str(out),
                               *args], capture_output=True, text=True)

    def test_newer_rows_win_and_new_rows_are_added(self):
        doc = committed()
        keys = sorted(doc["rows"])[:2]
        base = copy.deepcopy(doc)
        base["rows"] = {keys[0]: doc["rows"][keys[0]]}
        other = copy.deepcopy(doc)
        newer = copy.deepcopy(doc["rows"][keys[0]])
        newer["date"] = "2999-01-01T00:00:00+00:00"
        other["rows"] = {keys[0]: newer, keys[1]: doc["rows"][keys[1]]}
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            (out / "results.json").write_text(json.dumps(base))
            (out / "other.json").write_text(json.dumps(other))
            r = self.run_tool(out, "--merge", str(out / "other.json"))
            self.assertEqual(r.returncode, 0, r.stderr)
            merged = json.loads((out / "results.json").read_text())
            self.assertEqual(set(merged["rows"]), set(keys))
            self.assertEqual(merged["rows"][keys[0]]["date"], newer["date"])
            self.assertTrue((out / "results.md").read_text().startswith("# Results"))

    def test_other_settings_are_refused_and_nothing_changes(self):
        doc = committed()
        other = copy.deepcopy(doc)
        other["settings"] = dict(doc["settings"], max_windows=1)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            before = json.dumps(doc)
            (out / "results.json").write_text(before)
            (out / "other.json").write_text(json.dumps(other))
            r = self.run_tool(out, "--merge", str(out / "other.json"))
            self.assertEqual(r.returncode, 1)
            self.assertIn("other settings", r.stderr)
            self.assertEqual((out / "results.json").read_text(), before)
            self.assertFalse((out / "results.md").exists())


if __name__ == "__main__":
    unittest.main(verbosity=2)
