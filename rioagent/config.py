"""Layered settings: defaults < ~/.config/rioagent/config.toml < ./.rioagent.toml < RIOAGENT_* env < flags.

Every layer is a plain dict merged key by key (tables merge, values replace); validation happens once on the
merged result and names the layer that set the bad value.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

APPROVAL_MODES = ("ask", "auto-edit", "auto", "read-only")
THINK_MODES = ("on", "off", "swi", "auto")
BACKENDS = ("endpoint", "local", "demo")

# Sampling recommended for Qwen3.5 thinking + coding (DESIGN.md).
DEFAULT_SAMPLING: dict[str, float | int] = {"temperature": 0.6, "top_p": 0.95, "top_k": 20}


class ConfigError(ValueError):
    """Bad configuration: names where it came from, the key, and what is allowed."""

    def __init__(self, source: str, key: str, problem: str):
        super().__init__(f"{source}: {key}: {problem}")
        self.source, self.key, self.problem = source, key, problem


@dataclass
class ModelProfile:
    name: str
    backend: str = "endpoint"
    # endpoint
    base_url: str = ""
    api_key_env: str = "RIOAGENT_API_KEY"
    model: str = ""
    extra_body: dict[str, Any] = field(default_factory=dict)
    sampling: dict[str, float | int] = field(default_factory=lambda: dict(DEFAULT_SAMPLING))
    context_window: int = 32768
    max_output_tokens: int = 8192
    connect_timeout: float = 10.0
    read_timeout: float = 300.0
    max_retries: int = 4
    # local (in-process engine)
    path: str = ""
    device_map: str = "auto"
    max_memory: dict[str, str] = field(default_factory=dict)
    dtype: str = "bfloat16"
    experts_implementation: str = "grouped_mm"
    compile_decode: bool = False  # fuse the decode step's kernels with torch.compile (slower first step)
    offline: bool = False

    def api_key(self) -> str:
        return os.environ.get(self.api_key_env, "") if self.api_key_env else ""


@dataclass
class Settings:
    profile: str = "demo"
    approval: str = "auto"
    think: str = "on"
    max_steps: int = 50
    max_tokens: int = 0  # whole-session token budget; 0 = none
    max_seconds: float = 0  # wall-time budget; 0 = none
    command_timeout: float = 120.0
    allow_outside_workspace: bool = False
    max_format_errors: int = 3  # malformed replies in a row before the run stops
    max_repeats: int = 3  # identical calls in a row: warned at this count, stopped at the next
    compact_at: float = 0.85  # fraction of the context window that triggers compaction
    keep_recent_messages: int = 6
    allow_commands: list[str] = field(default_factory=list)
    deny_commands: list[str] = field(default_factory=list)
    models: dict[str, ModelProfile] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # key -> the layer that set it

    def model_profile(self) -> ModelProfile:
        if self.profile not in self.models:
            raise ConfigError(
                self.sources.get("profile", "defaults"),
                "profile",
                f"no model profile named {self.profile!r}; defined: {', '.join(sorted(self.models))}",
            )
        return self.models[self.profile]


def default_layer() -> dict[str, Any]:
    # The demonstration model, in-process on the CPU (rioagent.models.smollm). max_output_tokens is kept
    # small: a 135M model rambles, and a CPU decodes it at a few dozen tokens a second.
    demo = {
        "backend": "local",
        "path": "builtin:smollm2",
        "model": "SmolLM2-135M-Instruct",
        "context_window": 8192,
        "max_output_tokens": 512,
    }
    return {"models": {"demo": demo}}


def user_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "rioagent" / "config.toml"


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "rioagent"


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), "(file)", f"not valid TOML: {exc}") from exc


_ENV_KEYS = {
    "RIOAGENT_PROFILE": "profile",
    "RIOAGENT_APPROVAL": "approval",
    "RIOAGENT_THINK": "think",
    "RIOAGENT_MAX_STEPS": "max_steps",
    "RIOAGENT_MAX_TOKENS": "max_tokens",
    "RIOAGENT_MAX_SECONDS": "max_seconds",
    "RIOAGENT_COMMAND_TIMEOUT": "command_timeout",
}


def env_layer(environ: dict[str, str] | None = None) -> dict[str, Any]:
    environ = dict(os.environ if environ is None else environ)
    layer: dict[str, Any] = {k: environ[e] for e, k in _ENV_KEYS.items() if environ.get(e)}
    endpoint = endpoint_layer(environ.get("RIOAGENT_BASE_URL", ""), environ.get("RIOAGENT_MODEL", ""))
    return merge(layer, endpoint)


def endpoint_layer(base_url: str, model: str, profile: str = "") -> dict[str, Any]:
    """What --endpoint/--model (or their env twins) mean: an endpoint profile, made the active one.

    A model name alone changes the active profile's model, whatever its backend.
    """
    if base_url:
        name = profile or "cli"
        entry: dict[str, Any] = {"backend": "endpoint", "base_url": base_url}
        if model:
            entry["model"] = model
        return {"profile": name, "models": {name: entry}}
    if model:
        return {"_model_override": model}
    return {}


def local_layer(path: str, profile: str = "") -> dict[str, Any]:
    """What --local PATH means: an in-process profile over that checkpoint, made the active one."""
    if not path:
        return {}
    name = profile or "local"
    return {"profile": name, "models": {name: {"backend": "local", "path": path}}}


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _record_sources(sources: dict[str, str], layer: dict[str, Any], name: str, prefix: str = "") -> None:
    for key, value in layer.items():
        dotted = f"{prefix}{key}"
        sources[dotted] = name
        # Recurse into [models] and each profile's table, not into values that happen to be tables.
        if isinstance(value, dict) and (key == "models" or prefix.startswith("models.")):
            _record_sources(sources, value, name, f"{dotted}.")


def load_settings(
    workspace: Path | None = None,
    flags: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
    user_file: Path | None = None,
) -> Settings:
    """Merge every layer and validate. `flags` is the CLI's layer (same keys as the TOML files)."""
    workspace = workspace or Path.cwd()
    layers: list[tuple[str, dict[str, Any]]] = [("defaults", default_layer())]
    for path in (user_file or user_config_path(), workspace / ".rioagent.toml"):
        if path.is_file():
            layers.append((str(path), read_toml(path)))
    layers.append(("environment (RIOAGENT_*)", env_layer(environ)))
    layers.append(("command-line flags", flags or {}))

    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, layer in layers:
        merged = merge(merged, layer)
        _record_sources(sources, layer, name)
    return _validate(merged, sources)


def _coerce(value: Any, kind: type, source: str, key: str) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "0", "false", "no"):
            return value.lower() in ("1", "true", "yes")
        raise ConfigError(source, key, f"expected true or false, got {value!r}")
    if kind in (int, float):
        if isinstance(value, bool):
            raise ConfigError(source, key, f"expected a number, got {value!r}")
        try:
            number = kind(value)
        except (TypeError, ValueError):
            raise ConfigError(source, key, f"expected a number, got {value!r}") from None
        if number < 0:
            raise ConfigError(source, key, f"must be 0 or more, got {value!r}")
        return number
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(source, key, f"expected a string, got {value!r}")
        return value
    if kind is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(source, key, f"expected a list of strings, got {value!r}")
        return value
    if kind is dict:
        if not isinstance(value, dict):
            raise ConfigError(source, key, f"expected a table, got {value!r}")
        return value
    return value


_TYPE_NAMES = {"str": str, "int": int, "float": float, "bool": bool}


def _field_kind(annotation: Any) -> type:
    text = str(annotation)
    if text.startswith(("dict", "Dict")):
        return dict
    if text.startswith(("list", "List")):
        return list
    return _TYPE_NAMES.get(text.split(" ")[0], str)


def _validate_profile(name: str, raw: Any, sources: dict[str, str]) -> ModelProfile:
    where = sources.get(f"models.{name}", "defaults")
    if not isinstance(raw, dict):
        raise ConfigError(where, f"models.{name}", "expected a table of profile settings")
    allowed = {f.name: f for f in fields(ModelProfile) if f.name != "name"}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        source = sources.get(f"models.{name}.{key}", where)
        if key not in allowed:
            raise ConfigError(source, f"models.{name}.{key}", f"unknown key; allowed: {', '.join(allowed)}")
        values[key] = _coerce(value, _field_kind(allowed[key].type), source, f"models.{name}.{key}")
    profile = ModelProfile(name=name, **values)
    if profile.sampling is not DEFAULT_SAMPLING:
        profile.sampling = {**DEFAULT_SAMPLING, **profile.sampling}
    if profile.backend not in BACKENDS:
        raise ConfigError(
            sources.get(f"models.{name}.backend", where),
            f"models.{name}.backend",
            f"{profile.backend!r} is not a backend; allowed: {', '.join(BACKENDS)}",
        )
    if profile.backend == "endpoint" and not profile.base_url:
        raise ConfigError(
            where,
            f"models.{name}.base_url",
            "an endpoint profile needs base_url (e.g. http://127.0.0.1:8000/v1)",
        )
    if profile.backend == "local" and not profile.path:
        raise ConfigError(
            where, f"models.{name}.path", "a local profile needs path (a checkpoint folder or hub id)"
        )
    return profile


def _validate(merged: dict[str, Any], sources: dict[str, str]) -> Settings:
    model_override = merged.pop("_model_override", "")
    allowed = {f.name: f for f in fields(Settings) if f.name not in ("models", "sources")}
    values: dict[str, Any] = {}
    for key, value in merged.items():
        if key == "models":
            continue
        source = sources.get(key, "defaults")
        if key not in allowed:
            raise ConfigError(source, key, f"unknown key; allowed: {', '.join(allowed)}, models")
        values[key] = _coerce(value, _field_kind(allowed[key].type), source, key)
    for key, choices in (("approval", APPROVAL_MODES), ("think", THINK_MODES)):
        if key in values and values[key] not in choices:
            allowed_text = ", ".join(choices)
            raise ConfigError(
                sources.get(key, "defaults"), key, f"{values[key]!r} not allowed; use one of {allowed_text}"
            )
    models_raw = merged.get("models", {})
    if not isinstance(models_raw, dict):
        raise ConfigError(sources.get("models", "defaults"), "models", "expected a table of named profiles")
    settings = Settings(**values, sources=sources)
    settings.models = {name: _validate_profile(name, raw, sources) for name, raw in models_raw.items()}
    if model_override:
        settings.model_profile().model = model_override
    else:
        settings.model_profile()  # the active profile must exist
    return settings
