"""What `rioagent eval swe` and `rioagent eval grade` leave in --out, written as each instance finishes.

eval swe:
    preds.json       {instance_id: {instance_id, model_name_or_path, model_patch}}: SWE-bench's format
    results.jsonl    one line per finished instance: steps, tokens (thinking apart), times, exit reason
    logs/ID.jsonl    the agent's session log (the same events `rioagent sessions show` replays)
eval grade:
    grades.jsonl     one report per line (the last line for an id wins)
    grades/ID/       report.json, patch.log, test_output.txt, statuses.json
    report.md        the Markdown summary, rewritten at the end

Every write is an append of one line or an atomic replace, so a run killed at any moment leaves files
that read back whole; a rerun reads them to skip what is already finished.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

PREDS = "preds.json"
RESULTS = "results.jsonl"
GRADES = "grades.jsonl"
REPORT_MD = "report.md"


def atomic_write(path: Path, text: str) -> None:
    """Replace `path` with `text` in one step: readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_jsonl(path: Path) -> dict[str, dict[str, Any]]:
    """Records by instance_id, the last line for an id winning; a torn last line (a kill mid-write) and
    lines without an id are skipped."""
    records: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return records
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("instance_id"), str):
            records[record["instance_id"]] = record
    return records


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def patch_sha(patch: str) -> str:
    return hashlib.sha256(patch.encode("utf-8")).hexdigest()[:16]


def read_preds(path: Path) -> dict[str, dict[str, Any]]:
    """A predictions file: SWE-bench's dict keyed by id, a list of records, or JSON Lines."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        items: Any = [json.loads(line) for line in text.splitlines() if line.strip()]
    else:
        items = json.loads(text)
    if isinstance(items, dict):
        items = list(items.values())
    if not isinstance(items, list) or not all(isinstance(i, dict) and "instance_id" in i for i in items):
        raise ValueError(f"{path}: expected predictions with instance_id and model_patch")
    return {i["instance_id"]: i for i in items}


class RunDir:
    """An `eval swe` output folder."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.logs = self.root / "logs"
        self._preds: dict[str, dict[str, Any]] | None = None  # read once; this process is the only writer

    @property
    def preds_path(self) -> Path:
        return self.root / PREDS

    @property
    def results_path(self) -> Path:
        return self.root / RESULTS

    def results(self) -> dict[str, dict[str, Any]]:
        return read_jsonl(self.results_path)

    def preds(self) -> dict[str, dict[str, Any]]:
        return read_preds(self.preds_path) if self.preds_path.is_file() else {}

    def finished(self) -> set[str]:
        """Ids done on an earlier run: a result that is not an error, and its prediction written.
        Errors (no workspace, model unreachable) are tried again."""
        preds = self.preds()
        return {i for i, r in self.results().items() if r.get("status") != "error" and i in preds}

    def record(self, result: dict[str, Any], model_name: str) -> None:
        """Write one finished instance: its prediction first, then its result line (what `finished`
        reads), so a kill between the two reruns the instance instead of losing its patch."""
        patch = result.get("patch") or ""
        if self._preds is None:
            self._preds = self.preds()
        preds = self._preds
        preds[result["instance_id"]] = {
            "instance_id": result["instance_id"],
            "model_name_or_path": model_name,
            "model_patch": patch,
        }
        atomic_write(self.preds_path, json.dumps(preds, indent=1, ensure_ascii=False) + "\n")
        line = {k: v for k, v in result.items() if k != "patch"}
        line["patch_sha"] = patch_sha(patch)
        line["patch_lines"] = patch.count("\n")
        append_jsonl(self.results_path, line)


class GradeDir:
    """An `eval grade` output folder (it may be the same folder as the run's)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    @property
    def grades_path(self) -> Path:
        return self.root / GRADES

    def instance_dir(self, instance_id: str) -> Path:
        return self.root / "grades" / instance_id

    def grades(self) -> dict[str, dict[str, Any]]:
        return read_jsonl(self.grades_path)

    def finished(self, patches: dict[str, str]) -> set[str]:
        """Ids graded before with the same patch and a result other than an error."""
        return {
            iid
            for iid, g in self.grades().items()
            if g.get("status") != "error" and iid in patches and g.get("patch_sha") == patch_sha(patches[iid])
        }

    def record(self, report: dict[str, Any], patch: str) -> None:
        report = {**report, "patch_sha": patch_sha(patch)}
        folder = self.instance_dir(report["instance_id"])
        atomic_write(folder / "report.json", json.dumps(report, indent=1, ensure_ascii=False) + "\n")
        append_jsonl(self.grades_path, report)
