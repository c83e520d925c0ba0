"""Layered settings: defaults < user file < project file < environment < flags, and errors that say where."""

from __future__ import annotations

from pathlib import Path

import pytest

from rioagent.config import ConfigError, endpoint_layer, load_settings


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    user = tmp_path / "user.toml"
    workspace = tmp_path / "repo"
    workspace.mkdir()
    return user, workspace


def load(user: Path, workspace: Path, env: dict[str, str] | None = None, flags: dict | None = None):
    return load_settings(workspace, flags=flags, environ=env or {}, user_file=user)


def test_defaults_use_the_demo_model(files: tuple[Path, Path]) -> None:
    settings = load(*files)
    assert settings.profile == "demo"
    profile = settings.model_profile()
    assert (profile.backend, profile.path) == ("local", "builtin:smollm2")  # in-process, on the CPU
    assert settings.approval == "auto"
    assert settings.model_profile().sampling == {"temperature": 0.6, "top_p": 0.95, "top_k": 20}


def test_each_layer_overrides_the_one_before(files: tuple[Path, Path]) -> None:
    user, workspace = files
    user.write_text('max_steps = 10\napproval = "ask"\ncommand_timeout = 30\nthink = "off"\n')
    (workspace / ".rioagent.toml").write_text(
        'max_steps = 20\napproval = "auto-edit"\ncommand_timeout = 40\n'
    )
    env = {"RIOAGENT_MAX_STEPS": "30", "RIOAGENT_APPROVAL": "read-only"}
    settings = load(user, workspace, env, flags={"max_steps": 40})
    assert settings.max_steps == 40  # flags
    assert settings.approval == "read-only"  # environment
    assert settings.command_timeout == 40  # project file
    assert settings.think == "off"  # user file
    assert settings.sources["max_steps"] == "command-line flags"
    assert settings.sources["command_timeout"] == str(workspace / ".rioagent.toml")


def test_profiles_merge_key_by_key_and_sampling_keeps_defaults(files: tuple[Path, Path]) -> None:
    user, workspace = files
    user.write_text(
        'profile = "qwen"\n[models.qwen]\nbackend = "endpoint"\nbase_url = "http://127.0.0.1:8000/v1"\n'
        'model = "Qwen/Qwen3.5-397B-A17B"\nsampling = { temperature = 0.2 }\n'
    )
    (workspace / ".rioagent.toml").write_text(
        "[models.qwen]\ncontext_window = 65536\nextra_body = { seed = 1 }\n"
    )
    profile = load(user, workspace).model_profile()
    assert profile.base_url == "http://127.0.0.1:8000/v1"
    assert profile.context_window == 65536
    assert profile.sampling == {"temperature": 0.2, "top_p": 0.95, "top_k": 20}
    assert profile.extra_body == {"seed": 1}


def test_endpoint_flags_and_env_make_an_endpoint_profile(files: tuple[Path, Path]) -> None:
    env = {
        "RIOAGENT_BASE_URL": "http://127.0.0.1:9/v1",
        "RIOAGENT_MODEL": "from-env",
        "RIOAGENT_API_KEY": "k",
    }
    settings = load(*files, env=env)
    assert settings.model_profile().base_url == "http://127.0.0.1:9/v1"
    assert settings.model_profile().model == "from-env"
    assert settings.model_profile().api_key_env == "RIOAGENT_API_KEY"
    settings = load(*files, env=env, flags=endpoint_layer("http://127.0.0.1:7/v1", "from-flag"))
    assert (settings.model_profile().base_url, settings.model_profile().model) == (
        "http://127.0.0.1:7/v1",
        "from-flag",
    )


def test_model_flag_alone_changes_the_active_profile(files: tuple[Path, Path]) -> None:
    settings = load(*files, flags=endpoint_layer("", "other-model"))
    assert settings.profile == "demo"
    assert settings.model_profile().model == "other-model"


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ('approval = "yolo"', "approval", "ask, auto-edit, auto, read-only"),
        ('think = "maybe"', "think", "on, off, swi, auto"),
        ("max_steps = -1", "max_steps", "0 or more"),
        ('max_steps = "many"', "max_steps", "expected a number"),
        ("colour = true", "colour", "unknown key; allowed:"),
        ('allow_commands = "pytest"', "allow_commands", "list of strings"),
        ('[models.x]\nbackend = "magic"', "models.x.backend", "endpoint, local, demo"),
        ('[models.x]\nbackend = "endpoint"', "models.x.base_url", "needs base_url"),
        ('[models.x]\nbackend = "local"', "models.x.path", "needs path"),
        ("[models.x]\ntemperature = 1", "models.x.temperature", "unknown key"),
        ('profile = "nope"', "profile", "no model profile named 'nope'"),
    ],
)
def test_bad_values_name_the_file_the_key_and_what_is_allowed(
    files: tuple[Path, Path], text: str, key: str, words: str
) -> None:
    user, workspace = files
    project = workspace / ".rioagent.toml"
    project.write_text(text + "\n")
    with pytest.raises(ConfigError) as err:
        load(user, workspace)
    assert err.value.key == key
    assert str(project) in str(err.value)
    assert words in str(err.value)


def test_broken_toml_names_the_file(files: tuple[Path, Path]) -> None:
    user, workspace = files
    user.write_text("max_steps = = 3\n")
    with pytest.raises(ConfigError, match="not valid TOML") as err:
        load(user, workspace)
    assert err.value.source == str(user)


def test_bad_environment_value_names_the_environment(files: tuple[Path, Path]) -> None:
    with pytest.raises(ConfigError, match=r"environment \(RIOAGENT_\*\): max_steps"):
        load(*files, env={"RIOAGENT_MAX_STEPS": "lots"})


def test_xdg_paths_are_honoured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from rioagent.config import state_dir, user_config_path

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert user_config_path() == tmp_path / "cfg" / "rioagent" / "config.toml"
    assert state_dir() == tmp_path / "state" / "rioagent"
