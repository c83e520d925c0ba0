"""The TUI driven by Textual's Pilot through whole tasks: a scripted model, the real agent loop, real tools,
real files in a real git repository. Keys go in as a person would press them; asserts read the widgets."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.geometry import Region

from rioagent.config import ModelProfile, Settings
from rioagent.headless import load_resume
from rioagent.tui.app import RioApp
from rioagent.tui.history import PromptHistory
from rioagent.tui.screens.approval import ApprovalScreen
from rioagent.tui.widgets.assistant_text import AssistantText
from rioagent.tui.widgets.notice import NoticeView
from rioagent.tui.widgets.run_result import RunResult
from rioagent.tui.widgets.thought import Thought
from rioagent.tui.widgets.tool_call import ToolCallView
from rioagent.tui.widgets.user_prompt import UserPrompt
from tests.scripted_model import ScriptedModel, reply, xml_call

BUGGY = "def add(a, b):\n    return a - b\n"


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Sessions, artifacts and prompt history go to the test's own folder."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state"


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "calc.py").write_text(BUGGY)
    (path / "README.md").write_text("calc\n")
    git = ["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    return path


def make_app(
    repo: Path, model: ScriptedModel, *, approval: str = "ask", session_id: str | None = None, **kw: Any
) -> RioApp:
    settings = Settings(approval=approval, think="on")
    settings.models = {"test": ModelProfile("test", backend="endpoint", model="scripted")}
    settings.profile = "test"

    async def factory(_: Settings) -> ScriptedModel:
        return model

    history = None
    if session_id is not None:
        session_id, history, _ = load_resume(session_id)
    return RioApp(
        settings,
        repo,
        model_factory=factory,
        session_id=session_id,
        history=history,
        prompt_history=PromptHistory(None),
        **kw,
    )


async def wait_for(pilot: Any, cond: Callable[[], Any], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out waiting for the app"
        await pilot.pause(0.02)


async def wait_idle(pilot: Any, app: RioApp) -> None:
    await wait_for(pilot, lambda: app.session.ready and not app.session.busy)
    await pilot.pause()


async def type_and_send(pilot: Any, app: RioApp, text: str, *, keys: bool = False) -> None:
    """Put `text` in the prompt (key by key when `keys`; else at once, to keep tests fast); press Enter."""
    app.prompt_bar.input.focus()
    if keys:
        await pilot.press(*[{" ": "space", "/": "slash", "@": "at"}.get(ch, ch) for ch in text])
    else:
        app.prompt_bar.input.insert(text)
        await pilot.pause()
    await pilot.press("enter")


def widgets(app: RioApp, kind: type) -> list[Any]:
    return [w for w in app.conversation.children if isinstance(w, kind)]


def on_screen(widget: Any) -> str:
    """The text a widget draws, as the terminal shows it."""
    strips = widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))
    return "\n".join(strip.text for strip in strips)


def notices(app: RioApp) -> list[str]:
    return [w.message for w in widgets(app, NoticeView)]


async def approve(pilot: Any, app: RioApp, key: str) -> ApprovalScreen:
    await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
    screen = app.screen
    assert isinstance(screen, ApprovalScreen)
    await pilot.press(key)
    await wait_for(pilot, lambda: app.screen is not screen)
    return screen


def edit_turn() -> Any:
    return reply(
        xml_call("str_replace", path="calc.py", old_str="return a - b", new_str="return a + b"),
        text="The sign is wrong.",
        reasoning="add() subtracts. " * 20,
    )


async def test_whole_task_approve_diff_interrupt_undo_resume(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    model = ScriptedModel([
        edit_turn(),
        reply(xml_call("bash", command="python -c 'import calc; print(calc.add(2, 3))'"), reasoning="Check."),
        reply(xml_call("bash", command="python -c 'import calc; print(calc.add(1, 1))'"), reasoning="Again."),
        reply(xml_call("finish", summary="Fixed `add` in calc.py."), reasoning="Done."),
        reply(text="never reached", reasoning="Let me think about docstrings at length. " * 400),
    ])  # fmt: skip
    app = make_app(repo, model)
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_idle(pilot, app)
        await type_and_send(pilot, app, "fix add", keys=True)

        # The edit is asked about, and the modal shows exactly the change.
        screen = await approve(pilot, app, "y")
        assert screen.request.name == "str_replace"
        assert "-    return a - b" in screen.request.preview and "+    return a + b" in screen.request.preview
        # The command is asked; "a" allows that kind of command for the session, so the next runs unasked.
        screen = await approve(pilot, app, "a")
        assert screen.request.name == "bash" and screen.pattern.startswith("python")
        await wait_idle(pilot, app)
        assert not isinstance(app.screen, ApprovalScreen)

        assert (repo / "calc.py").read_text() == "def add(a, b):\n    return a + b\n"
        [prompt] = widgets(app, UserPrompt)
        assert prompt.prompt_text == "fix add"
        tools = widgets(app, ToolCallView)
        assert [t.tool_name for t in tools] == ["str_replace", "bash", "bash"]
        edit = tools[0]
        assert edit.body_kind == "diff" and edit.state == "done"
        assert "+    return a + b" in on_screen(edit.body)
        assert tools[1].output.strip() == "5" and tools[2].output.strip() == "2"
        thoughts = widgets(app, Thought)
        assert thoughts and all(t.collapsed and not t.live for t in thoughts)
        assert thoughts[0].tokens > 0 and "tokens" in thoughts[0].title
        # A folded thought opens with Enter (its text is built only then) and folds again.
        thoughts[0].focus()
        await pilot.press("enter")
        assert not thoughts[0].collapsed and thoughts[0].body is not None
        assert "add() subtracts." in thoughts[0].body.source
        await pilot.press("enter")
        assert thoughts[0].collapsed and not thoughts[0].scroller.display
        assert any("Fixed `add`" in a.source for a in widgets(app, AssistantText))
        assert widgets(app, RunResult)[-1].status == "done"
        status = str(app.status_bar.left.render())
        assert "step 4" in status and "scripted" in status and "ctx" in status and "↑" in status

        # A slow thought, interrupted with Esc: the run ends within half a second and the app stays usable.
        model.chunk_delay = 0.01
        await type_and_send(pilot, app, "add a docstring")
        await wait_for(pilot, lambda: any(t.live for t in widgets(app, Thought)))
        pressed = time.monotonic()
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.session.busy, timeout=2)
        assert time.monotonic() - pressed < 0.5
        assert widgets(app, RunResult)[-1].status == "interrupted"
        assert not any(t.live for t in widgets(app, Thought))
        model.chunk_delay = 0.0

        # /undo takes back the interrupted step and gives its prompt back to edit.
        await type_and_send(pilot, app, "/undo")
        await wait_for(pilot, lambda: any("undid step 5" in n for n in notices(app)))
        assert app.prompt_bar.text == "add a docstring"
        assert [p.prompt_text for p in widgets(app, UserPrompt)] == ["fix add"]
        session_id = app.session.session_id
        app.prompt_bar.set_text("")
        await pilot.press("ctrl+c", "ctrl+c")
        await wait_for(pilot, lambda: not app.is_running)
    assert app.return_code == 0

    # Resume: the conversation comes back as it was left, and the model sees the history.
    model = ScriptedModel([reply(xml_call("finish", summary="Nothing more to do."), reasoning="ok")])
    app = make_app(repo, model, session_id=session_id[:15])
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_idle(pilot, app)
        assert app.session.session_id == session_id
        assert [p.prompt_text for p in widgets(app, UserPrompt)] == ["fix add"]
        assert [t.tool_name for t in widgets(app, ToolCallView)] == ["str_replace", "bash", "bash"]
        assert widgets(app, ToolCallView)[0].body_kind == "diff"
        await type_and_send(pilot, app, "anything else?")
        await wait_idle(pilot, app)
        sent = model.agent_calls[0]["messages"]
        assert any("fix add" in str(m.get("content")) for m in sent)
        assert not any("add a docstring" in str(m.get("content")) for m in sent)  # undone before resume

        # Undo back to the start: the edit's checkpoint restores the file.
        for _ in range(5):
            app.prompt_bar.set_text("")  # an undone run's prompt comes back to the prompt: clear it
            await type_and_send(pilot, app, "/undo")
            await wait_idle(pilot, app)
            await pilot.pause(0.05)
        assert (repo / "calc.py").read_text() == BUGGY
        assert widgets(app, UserPrompt) == []
        assert app.prompt_bar.text == "fix add"
        app.prompt_bar.set_text("")
        await type_and_send(pilot, app, "/quit")
        await wait_for(pilot, lambda: not app.is_running)


async def test_deny_with_a_note_reaches_the_model(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    model = ScriptedModel([
        reply(xml_call("bash", command="rm -rf build"), reasoning="Clean first."),
        reply(xml_call("finish", summary="Left the build folder alone."), reasoning="ok"),
    ])  # fmt: skip
    app = make_app(repo, model)
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_idle(pilot, app)
        await type_and_send(pilot, app, "clean up")
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        assert "rm -rf build" in app.screen.request.preview
        await pilot.press("tab", "tab", "tab")  # to the note field, by keyboard only
        await pilot.press(*"keep it", "enter")
        await wait_idle(pilot, app)
        [tool] = widgets(app, ToolCallView)
        assert tool.state == "denied" and tool.note == "keep it"
        result = model.agent_calls[1]["messages"][-1]
        assert "denied" in result["content"] and "keep it" in result["content"]


async def test_approval_mode_key_cycles_and_holds(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    model = ScriptedModel([
        edit_turn(),
        reply(xml_call("finish", summary="Could not edit."), reasoning="ok"),
    ])  # fmt: skip
    app = make_app(repo, model)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_idle(pilot, app)
        seen = []
        for _ in range(4):
            await pilot.press("shift+tab")
            seen.append(app.settings.approval)
            assert app.settings.approval in str(app.status_bar.right.render())
        assert seen == ["auto-edit", "auto", "read-only", "ask"]
        await pilot.press("shift+tab", "shift+tab", "shift+tab")  # read-only for the rest of the session
        await type_and_send(pilot, app, "fix add")
        await wait_idle(pilot, app)
        assert not isinstance(app.screen, ApprovalScreen)  # refused outright, nothing to ask
        assert (repo / "calc.py").read_text() == BUGGY
        assert widgets(app, ToolCallView)[0].state == "error"
        assert app.session.agent.settings.approval == "read-only"


async def test_slash_commands(tmp_path: Path, state_home: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    model = ScriptedModel(
        [edit_turn(), reply(xml_call("finish", summary="Fixed."), reasoning="ok")],
        summaries=["The user asked to fix add; it was fixed."],
    )
    app = make_app(repo, model, approval="auto-edit")
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_idle(pilot, app)
        # Completion: "/u" offers /undo; Tab takes it.
        await pilot.press("slash", "u")
        assert app.prompt_bar.menu.display and app.prompt_bar.menu.current == "/undo"
        await pilot.press("tab")
        assert app.prompt_bar.text == "/undo" and not app.prompt_bar.menu.display
        app.prompt_bar.set_text("")

        await type_and_send(pilot, app, "/help", keys=True)
        await wait_for(pilot, lambda: any("/compact" in n.source for n in app.query("MarkdownNote")))
        await type_and_send(pilot, app, "/frob")
        await wait_for(pilot, lambda: any("unknown command /frob" in n for n in notices(app)))
        await type_and_send(pilot, app, "/approval auto")
        await wait_for(pilot, lambda: app.settings.approval == "auto")
        await type_and_send(pilot, app, "/think off")
        await wait_for(pilot, lambda: app.settings.think == "off" and app.session.ready)
        await type_and_send(pilot, app, "/model nosuch")
        await wait_for(pilot, lambda: any("model not changed" in n for n in notices(app)))
        assert app.settings.profile == "test" and app.session.ready

        await type_and_send(pilot, app, "fix add")
        await wait_idle(pilot, app)
        await type_and_send(pilot, app, "/diff")
        await wait_for(pilot, lambda: any("+    return a + b" in n.source for n in app.query("MarkdownNote")))
        app.settings.keep_recent_messages = 2  # a short conversation still has something to compact
        await type_and_send(pilot, app, "/compact")
        await wait_for(pilot, lambda: any(n.startswith("compacted") for n in notices(app)))

        first = app.session.session_id
        await type_and_send(pilot, app, "/clear")
        await wait_for(pilot, lambda: app.session.session_id != first and app.session.ready)
        assert widgets(app, UserPrompt) == [] and widgets(app, ToolCallView) == []

        # /sessions lists the first session; Enter resumes it.
        await type_and_send(pilot, app, "/sessions")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "SessionsScreen")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.session.session_id == first and app.session.ready)
        assert [p.prompt_text for p in widgets(app, UserPrompt)] == ["fix add"]
        await type_and_send(pilot, app, "/resume nosuch")
        await wait_for(pilot, lambda: any("no session 'nosuch'" in n for n in notices(app)))
        await type_and_send(pilot, app, "/quit")
        await wait_for(pilot, lambda: not app.is_running)
    assert (state_home / "rioagent" / "sessions" / f"{first}.jsonl").exists()


async def test_prompt_keys_history_newlines_and_mentions(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    seen: list[str] = []

    def record(messages: list[dict[str, Any]], _: Any) -> Any:
        seen.append(messages[-1]["content"])
        return reply(xml_call("finish", summary="ok"))

    model = ScriptedModel([record, record])
    app = make_app(repo, model)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_idle(pilot, app)
        await pilot.press("l", "i", "n", "e", "1", "shift+enter", "l", "2", "ctrl+j", "l", "3")
        assert app.prompt_bar.text == "line1\nl2\nl3"
        await pilot.press("enter")
        await wait_idle(pilot, app)
        assert seen[0] == "line1\nl2\nl3"

        # @ completes a file name; the file goes to the model with the prompt.
        await pilot.press(*"explain", "space", "at", "c", "a", "l")
        await wait_for(pilot, lambda: app.prompt_bar.menu.current == "calc.py")
        await pilot.press("tab")
        assert app.prompt_bar.text == "explain @calc.py "
        await pilot.press("enter")
        await wait_idle(pilot, app)
        assert '<file path="calc.py">' in seen[1] and "return a - b" in seen[1]
        assert "attached: calc.py" in str(widgets(app, UserPrompt)[-1].render())

        # Up walks back through what was sent; Down returns to the draft.
        await pilot.press("d", "up")
        assert app.prompt_bar.text == "explain @calc.py "
        await pilot.press("up")
        assert app.prompt_bar.text == "line1\nl2\nl3"
        await pilot.press("down", "down", "down", "down")
        assert app.prompt_bar.text == "d"


async def test_esc_stops_a_running_command(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    model = ScriptedModel([reply(xml_call("bash", command="sleep 30"), reasoning="wait")])
    app = make_app(repo, model, approval="auto")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_idle(pilot, app)
        await type_and_send(pilot, app, "wait a while")
        await wait_for(pilot, lambda: "running bash" in app.info.state)
        await pilot.pause(0.3)
        [tool] = widgets(app, ToolCallView)
        pressed = time.monotonic()
        await pilot.press("escape")
        await wait_for(pilot, lambda: tool.state != "running", timeout=3)
        assert time.monotonic() - pressed < 0.5  # the command is stopped and its result shown
        await wait_for(pilot, lambda: not app.session.busy, timeout=5)  # then the step's checkpoint
        assert widgets(app, RunResult)[-1].status == "interrupted"
        # Still usable: the next prompt runs.
        model.turns.append(reply(xml_call("finish", summary="ok")))
        await type_and_send(pilot, app, "go on")
        await wait_idle(pilot, app)
        assert widgets(app, RunResult)[-1].status == "done"


async def test_model_that_cannot_start_leaves_the_app_usable(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")

    async def broken(_: Settings) -> Any:
        raise ConnectionError("cannot reach http://127.0.0.1:9/v1")

    app = RioApp(Settings(), repo, model_factory=broken, prompt_history=PromptHistory(None))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.info.state == "no model")
        assert any("could not start the model" in n for n in notices(app))
        await type_and_send(pilot, app, "hello")
        await wait_for(pilot, lambda: any("no model to send to" in n for n in notices(app)))
        await asyncio.sleep(0)
