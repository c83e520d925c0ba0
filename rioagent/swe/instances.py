"""SWE-bench instances as the official files hold them: a JSON list (or a dict keyed by id) or JSON Lines.

FAIL_TO_PASS and PASS_TO_PASS are JSON strings in the official files ("[\"test_a\", ...]"); lists are
accepted too, so a file written by another tool reads the same.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Files a test patch touches that are data, not tests to run (SWE-bench's list).
NON_TEST_EXTS = (".json", ".png", "csv", ".txt", ".md", ".jpg", ".jpeg", ".pkl", ".yml", ".yaml", ".toml")
_DIFF_FILE_RE = re.compile(r"^diff --git a/.* b/(.*)$", re.MULTILINE)
_REQUIRED = ("instance_id", "repo", "base_commit")


class InstanceError(ValueError):
    """The instances file or the selection is unusable; the message says which and what to do."""


@dataclass
class Instance:
    instance_id: str
    repo: str  # "owner/name"
    base_commit: str
    problem_statement: str = ""
    patch: str = ""  # the gold patch
    test_patch: str = ""
    version: str = ""
    fail_to_pass: list[str] = field(default_factory=list)
    pass_to_pass: list[str] = field(default_factory=list)
    environment_setup_commit: str = ""
    hints_text: str = ""

    @property
    def repo_dirname(self) -> str:
        """The folder name SWE-bench uses for a repository: owner__name."""
        return self.repo.replace("/", "__")

    @property
    def test_files(self) -> list[str]:
        """Files the test patch touches: never part of a model's patch, and what the grader runs."""
        return diff_files(self.test_patch)

    @property
    def test_directives(self) -> list[str]:
        """The touched files that hold tests (data files left out)."""
        return [f for f in self.test_files if not f.endswith(NON_TEST_EXTS)]

    def to_dict(self) -> dict[str, Any]:
        """The official field names (F2P/P2P as JSON strings), for jobs sent to other processes."""
        return {
            "instance_id": self.instance_id,
            "repo": self.repo,
            "base_commit": self.base_commit,
            "problem_statement": self.problem_statement,
            "patch": self.patch,
            "test_patch": self.test_patch,
            "version": self.version,
            "FAIL_TO_PASS": json.dumps(self.fail_to_pass),
            "PASS_TO_PASS": json.dumps(self.pass_to_pass),
            "environment_setup_commit": self.environment_setup_commit,
            "hints_text": self.hints_text,
        }


def diff_files(patch: str) -> list[str]:
    """The paths (b/ side) a git diff touches, in order, without duplicates."""
    return list(dict.fromkeys(_DIFF_FILE_RE.findall(patch or "")))


def _test_list(value: Any, what: str, where: str) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise InstanceError(f"{where}: {what} is not a JSON list string ({exc})") from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InstanceError(f"{where}: {what} must be a list of test ids")
    return value


def instance_from_dict(record: dict[str, Any], where: str = "instance") -> Instance:
    missing = [k for k in _REQUIRED if not isinstance(record.get(k), str) or not record.get(k)]
    if missing:
        raise InstanceError(f"{where}: missing {', '.join(missing)}")
    where = f"{where} ({record['instance_id']})"
    return Instance(
        instance_id=record["instance_id"],
        repo=record["repo"],
        base_commit=record["base_commit"],
        problem_statement=record.get("problem_statement") or "",
        patch=record.get("patch") or "",
        test_patch=record.get("test_patch") or "",
        version=str(record.get("version") or ""),
        fail_to_pass=_test_list(record.get("FAIL_TO_PASS"), "FAIL_TO_PASS", where),
        pass_to_pass=_test_list(record.get("PASS_TO_PASS"), "PASS_TO_PASS", where),
        environment_setup_commit=record.get("environment_setup_commit") or "",
        hints_text=record.get("hints_text") or "",
    )


def _records(path: Path) -> list[tuple[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InstanceError(f"--instances {path}: cannot read it ({exc.strerror or exc})") from None
    if path.suffix == ".jsonl":
        out = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                out.append((f"{path}:{number}", json.loads(line)))
            except ValueError as exc:
                raise InstanceError(f"{path}:{number}: not valid JSON ({exc})") from None
        return out
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InstanceError(f"{path}: not valid JSON ({exc}); use a .json list or .jsonl lines") from None
    if isinstance(data, dict):  # keyed by instance_id, like preds.json
        data = list(data.values())
    if not isinstance(data, list):
        raise InstanceError(f"{path}: expected a list of instances")
    return [(f"{path}[{i}]", record) for i, record in enumerate(data)]


def parse_slice(text: str) -> slice:
    """ "0:50", ":10", "5:" -> a slice; a bad text raises InstanceError."""
    match = re.fullmatch(r"\s*(-?\d*)\s*:\s*(-?\d*)\s*", text or "")
    if not match:
        raise InstanceError(f"--slice {text!r}: expected START:END, e.g. 0:50")
    start, end = (int(g) if g else None for g in match.groups())
    return slice(start, end)


def load_instances(path: str | Path, ids: list[str] | None = None, part: str | None = None) -> list[Instance]:
    """The file's instances in file order; `ids` picks some by id (all must exist), `part` slices."""
    path = Path(path).expanduser()
    instances: list[Instance] = []
    seen: set[str] = set()
    for where, record in _records(path):
        if not isinstance(record, dict):
            raise InstanceError(f"{where}: expected an object")
        instance = instance_from_dict(record, where)
        if instance.instance_id in seen:
            raise InstanceError(f"{where}: duplicate instance_id {instance.instance_id}")
        seen.add(instance.instance_id)
        instances.append(instance)
    if ids:
        unknown = [i for i in ids if i not in seen]
        if unknown:
            raise InstanceError(f"{path}: no instance {', '.join(unknown)} (check --ids)")
        wanted = set(ids)
        instances = [i for i in instances if i.instance_id in wanted]
    if part:
        instances = instances[parse_slice(part)]
    if not instances:
        raise InstanceError(f"{path}: the selection holds no instances")
    return instances
