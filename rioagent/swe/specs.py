"""The per-repository, per-version install table (specs.yaml, shipped in the package) as EnvSpec objects.

`--env-table FILE` merges a user's YAML over the built-in one, repository by repository, so a new repo or a
changed pin needs no code.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

BUILTIN_TABLE = Path(__file__).with_name("specs.yaml")
RUNNERS = ("pytest", "django", "sympy")
DEFAULT_INSTANCE_INSTALL = "python -m pip install --no-deps --no-build-isolation -e ."


class SpecError(ValueError):
    """No recipe for a repository, or a malformed table; the message says which and how to add one."""


@dataclass
class EnvSpec:
    repo: str
    version: str
    python: str = "3.9"
    requirements: list[str] = field(default_factory=list)
    packages: list[str] = field(default_factory=list)
    pins: list[str] = field(default_factory=list)
    pre_install: list[str] = field(default_factory=list)
    install: str = "python -m pip install -e ."
    instance_install: str = DEFAULT_INSTANCE_INSTALL
    runner: str = "pytest"
    test_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    inherit_host: bool = False
    network_tests: bool = False
    notes: str = ""

    def key(self) -> str:
        """A short hash of everything that shapes the built environment: a changed recipe builds anew."""
        recipe = {k: v for k, v in asdict(self).items() if k not in ("test_args", "env", "notes", "runner")}
        return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:10]

    @property
    def dirname(self) -> str:
        return f"{self.repo.replace('/', '__')}-{self.version or 'any'}-{self.key()}"


_FIELDS = {f.name for f in fields(EnvSpec)} - {"repo", "version"}


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"env table {path}: cannot read it ({exc})") from None
    if not isinstance(data, dict):
        raise SpecError(f"env table {path}: expected repositories as top-level keys")
    # Keys starting with "_" only hold YAML anchors.
    return {k: v for k, v in data.items() if not str(k).startswith("_")}


def load_table(extra: Path | None = None) -> dict[str, Any]:
    table = _read(BUILTIN_TABLE)
    if extra is not None:
        table.update(_read(Path(extra)))
    return table


def _check(values: dict[str, Any], where: str) -> dict[str, Any]:
    unknown = set(values) - _FIELDS
    if unknown:
        raise SpecError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(_FIELDS)}")
    if "runner" in values and values["runner"] not in RUNNERS:
        raise SpecError(f"{where}: runner {values['runner']!r}; use one of {', '.join(RUNNERS)}")
    return values


def spec_for(repo: str, version: str, table: dict[str, Any] | None = None) -> EnvSpec:
    """The recipe for `repo` at `version`: the repository's default with the version's overrides."""
    table = load_table() if table is None else table
    entry = table.get(repo)
    if not isinstance(entry, dict):
        raise SpecError(
            f"no environment recipe for {repo}; add one in a YAML file passed with --env-table "
            f"(see {BUILTIN_TABLE} for the format)"
        )
    values = dict(_check(dict(entry.get("default") or {}), f"{repo} default"))
    override = (entry.get("versions") or {}).get(str(version)) or {}
    values.update(_check(dict(override), f"{repo} {version}"))
    if entry.get("notes") and "notes" not in values:
        values["notes"] = " ".join(str(entry["notes"]).split())
    values = {k: (str(v) if k == "python" else v) for k, v in values.items()}
    values["env"] = {str(k): str(v) for k, v in (values.get("env") or {}).items()}
    return EnvSpec(repo=repo, version=str(version), **values)
