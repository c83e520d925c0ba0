"""What every tool handler shares: its spec, its context, its result, and the registry that dispatches."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from rioagent.messages import ToolCall
from rioagent.resources import data_dir

Access = Literal["read", "edit", "exec"]


class ToolError(Exception):
    """A tool could not do what was asked; the message goes back to the model, so it says what to do."""


@dataclass
class ToolResult:
    output: str
    is_error: bool = False
    changed_paths: list[str] = field(default_factory=list)
    # For front ends only (e.g. {"diff": ...} for an edit); the model sees `output`.
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]
    handler: str  # "module:function" under rioagent.tools, e.g. "files:view"
    access: Access  # what approval policy judges: read-only, file edits, or running commands

    def to_openai(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


@dataclass
class ToolContext:
    """Per-session state the handlers share. `state` holds long-lived objects (the shell, edit history);
    anything in it with a `close()` is closed with the context."""

    workspace: Path
    artifacts_dir: Path  # full outputs too long for the model's context are saved here
    allow_outside_workspace: bool = False
    command_timeout: float = 120.0
    env: dict[str, str] = field(default_factory=dict)
    # argv the shell is started under, e.g. a bubblewrap sandbox (the SWE eval runner); empty: none
    shell_prefix: list[str] = field(default_factory=list)
    # Set by the agent while a tool runs: receives output as it arrives (from a worker thread)
    on_output: Callable[[str], None] | None = None
    state: dict[str, Any] = field(default_factory=dict)

    def resolve(self, path: str) -> Path:
        """An absolute path for `path` (relative to the workspace), refused if it leaves the workspace."""
        if not isinstance(path, str) or not path.strip():
            raise ToolError("path is empty: give a file path relative to the workspace")
        raw = Path(os.path.expanduser(path.strip()))
        candidate = raw if raw.is_absolute() else self.workspace / raw
        resolved = candidate.resolve()
        if not self.allow_outside_workspace and not resolved.is_relative_to(self.workspace.resolve()):
            raise ToolError(
                f"{path} is outside the workspace {self.workspace}; only paths inside it can be used "
                "(set allow_outside_workspace = true in the config to lift this)"
            )
        return resolved

    def display(self, path: Path) -> str:
        """`path` as the model should see it: relative to the workspace where possible."""
        try:
            return str(path.relative_to(self.workspace.resolve()))
        except ValueError:
            return str(path)

    def close(self) -> None:
        for obj in self.state.values():
            close = getattr(obj, "close", None)
            if callable(close):
                close()
        self.state.clear()


Handler = Callable[..., ToolResult | str]


def load_specs(names: list[str] | None = None, folder: Path | None = None) -> list[ToolSpec]:
    """Read tools/*.yaml; `names` picks and orders a subset."""
    folder = folder or data_dir("tools")
    specs: dict[str, ToolSpec] = {}
    for file in sorted(folder.glob("*.yaml")):
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
        spec = ToolSpec(
            name=raw["name"],
            description=raw["description"].strip(),
            parameters=raw["parameters"],
            handler=raw["handler"],
            access=raw["access"],
        )
        specs[spec.name] = spec
    if names is None:
        return list(specs.values())
    missing = [n for n in names if n not in specs]
    if missing:
        raise ValueError(f"unknown tools {missing}; available: {sorted(specs)}")
    return [specs[n] for n in names]


class ToolRegistry:
    """Dispatches a parsed ToolCall to its handler. Synchronous: the agent runs it in a thread."""

    def __init__(self, specs: list[ToolSpec]):
        self.specs = {s.name: s for s in specs}
        self._handlers: dict[str, Handler] = {}

    def schemas(self) -> dict[str, dict[str, Any]]:
        return {name: spec.parameters for name, spec in self.specs.items()}

    def openai_tools(self) -> list[dict[str, Any]]:
        return [s.to_openai() for s in self.specs.values()]

    def handler(self, name: str) -> Handler:
        if name not in self._handlers:
            module_name, func_name = self.specs[name].handler.split(":")
            module = importlib.import_module(f"rioagent.tools.{module_name}")
            self._handlers[name] = getattr(module, func_name)
        return self._handlers[name]

    def run(self, ctx: ToolContext, call: ToolCall) -> ToolResult:
        spec = self.specs.get(call.name)
        if spec is None:
            return ToolResult(f"unknown tool {call.name!r}; available tools: {', '.join(self.specs)}", True)
        params = spec.parameters.get("properties", {})
        missing = [p for p in spec.parameters.get("required", []) if p not in call.arguments]
        unknown = [a for a in call.arguments if a not in params]
        if missing or unknown:
            problems = []
            if missing:
                problems.append(f"missing required parameter(s) {', '.join(missing)}")
            if unknown:
                problems.append(f"unknown parameter(s) {', '.join(unknown)}")
            return ToolResult(
                f"{call.name}: {'; '.join(problems)}. Parameters: {', '.join(params) or 'none'}.", True
            )
        try:
            result = self.handler(call.name)(ctx, **call.arguments)
        except ToolError as exc:
            return ToolResult(f"{call.name}: {exc}", True)
        return ToolResult(result) if isinstance(result, str) else result
