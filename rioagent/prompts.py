"""The agent's words: Jinja2 templates in prompts/ (system, task, compaction) and the correction texts.

Templates render with StrictUndefined, so a missing variable is an error here, not a silent blank line
in what the model reads.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import yaml

from rioagent.resources import data_dir

AGENTS_MD_LIMIT = 20_000


@cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_dir("prompts"))),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,  # prompts are plain text, not HTML
    )


def render(name: str, **variables: Any) -> str:
    """Render prompts/<name> (e.g. "system.j2"); trailing whitespace is stripped."""
    return _env().get_template(name).render(**variables).strip()


@cache
def _corrections() -> dict[str, str]:
    path = data_dir("prompts") / "corrections.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def correction(key: str, **variables: Any) -> str:
    """One of the texts in prompts/corrections.yaml, rendered."""
    texts = _corrections()
    if key not in texts:
        raise KeyError(f"no correction text {key!r} in prompts/corrections.yaml; have: {sorted(texts)}")
    return _env().from_string(texts[key]).render(**variables).strip()


def read_agents_md(workspace: Path, limit: int = AGENTS_MD_LIMIT) -> str:
    """AGENTS.md at the workspace root, capped at `limit` characters; "" when there is none."""
    path = workspace / "AGENTS.md"
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""
    if len(text) > limit:
        text = text[:limit] + f"\n[AGENTS.md cut at {limit} characters]"
    return text


def system_prompt(workspace: Path) -> str:
    return render("system.j2", workspace=str(workspace), agents_md=read_agents_md(workspace))


def task_message(task: str) -> str:
    return render("task.j2", task=task)
