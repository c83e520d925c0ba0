"""Slash commands: what exists, what each takes, and completion. Pure logic; the app runs them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    name: str  # without the slash
    args: str  # shown in help and completion, e.g. "[MODE]"
    help: str


COMMANDS: tuple[Command, ...] = (
    Command("help", "", "show the commands and keys"),
    Command("model", "[PROFILE]", "show the model, or switch to another profile from the config"),
    Command("think", "[on|off|swi|auto]", "show or set the thinking mode"),
    Command("undo", "", "take back the last step: its file changes and its messages"),
    Command("diff", "", "show every change made in this session"),
    Command("compact", "", "summarise the conversation to free context"),
    Command("clear", "", "start a new session (the current one stays saved)"),
    Command("sessions", "", "pick a past session to resume"),
    Command("resume", "[ID]", "resume a session by id (or pick one)"),
    Command("approval", "[ask|auto-edit|auto|read-only]", "show or set what runs without asking"),
    Command("quit", "", "leave rioagent"),
)

BY_NAME = {c.name: c for c in COMMANDS}


@dataclass(frozen=True)
class Invocation:
    command: Command | None  # None: no such command
    name: str
    arg: str


def parse(text: str) -> Invocation | None:
    """The command a prompt invokes, or None when it is not a command (a message to the model)."""
    text = text.strip()
    if not text.startswith("/") or text.startswith("//"):
        return None
    head, _, arg = text[1:].partition(" ")
    head = head.strip().lower()
    if not head or "/" in head:  # "/usr/bin/env ..." is a message about a path, not a command
        return None
    return Invocation(BY_NAME.get(head), head, arg.strip())


def complete(text: str) -> list[Command]:
    """Commands whose name starts with what follows the slash (only while the first word is typed)."""
    if not text.startswith("/") or " " in text or "\n" in text:
        return []
    prefix = text[1:].lower()
    return [c for c in COMMANDS if c.name.startswith(prefix)]


def help_text() -> str:
    rows = [f"- `/{c.name}{' ' + c.args if c.args else ''}` — {c.help}" for c in COMMANDS]
    keys = [
        "- **Enter** send · **Shift+Enter** or **Ctrl+J** new line · **Up/Down** history",
        "- **@** mention a file (Tab completes) · **/** commands",
        "- **Esc** interrupt · **Ctrl+C** twice quit · **Shift+Tab** cycle approval mode",
        "- **Ctrl+T** dark/light theme · **PgUp/PgDn** scroll · **Tab** move focus, **Enter** open a block",
    ]
    return "**Commands**\n\n" + "\n".join(rows) + "\n\n**Keys**\n\n" + "\n".join(keys)
