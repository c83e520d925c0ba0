"""The `rioagent` command. Parsing only: every command imports its machinery when it runs, so
`rioagent --help` stays fast and never loads torch or transformers.

Exit codes: 0 done, 1 the agent failed or hit a limit, 2 usage or configuration error, 3 model unreachable,
130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rioagent import __version__
from rioagent.argtypes import EXIT_USAGE, positive_int


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"rioagent: error: {message} (see `{self.prog} --help`)\n")


def _non_negative(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="rioagent",
        description="A terminal coding agent for Rio-3.5-Open and the Qwen3.5 family.",
        epilog="Exit codes: 0 done, 1 failed or hit a limit, 2 usage/config error, "
        "3 model unreachable, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"rioagent {__version__}")
    _add_tui_arguments(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = commands.add_parser(
        "run",
        help="run one task (or a batch) without a UI",
        description="Run a task headless in a repository and stream what the agent does.",
    )
    run.add_argument("task", nargs="?", metavar="TASK", help='what to do ("-" reads it from stdin)')
    run.add_argument("--repo", metavar="PATH", help="the repository to work in (default: the current folder)")
    run.add_argument(
        "--output-format",
        choices=("text", "json", "stream-json"),
        default="text",
        help="text: a readable log; json: only the result object; stream-json: one event per line",
    )
    run.add_argument("--max-steps", type=positive_int, metavar="N", help="stop after N model turns")
    run.add_argument(
        "--approval",
        choices=("auto", "read-only", "auto-edit", "ask"),
        help="what may run without asking (headless ask: prompts on a terminal, else denies)",
    )
    run.add_argument("--resume", metavar="ID", help="continue a session (an id or a unique prefix of one)")
    run.add_argument(
        "--endpoint", metavar="URL", help="an OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1"
    )
    run.add_argument("--model", metavar="NAME", help="the model name to ask the endpoint for")
    run.add_argument(
        "--local", metavar="PATH", help="run a checkpoint in this process (a directory or hub id)"
    )
    run.add_argument("--profile", metavar="NAME", help="a model profile from the config files")
    run.add_argument("--think", choices=("on", "off", "swi", "auto"), help="thinking mode")
    run.add_argument(
        "--max-tokens", type=_non_negative(int), metavar="N", help="session token budget (0: none)"
    )
    run.add_argument(
        "--max-seconds", type=_non_negative(float), metavar="S", help="wall-time budget (0: none)"
    )
    run.add_argument("--batch", metavar="FILE.jsonl", help='run one {"repo": ..., "task": ...} per line')
    run.add_argument("--workers", type=positive_int, default=1, metavar="N", help="batch tasks run at once")

    sessions = commands.add_parser("sessions", help="list or replay past sessions")
    which = sessions.add_subparsers(
        dest="sessions_command", metavar="ACTION", parser_class=_Parser, required=True
    )
    which.add_parser("list", help="all sessions, newest first")
    show = which.add_parser("show", help="replay a session's conversation")
    show.add_argument("id", metavar="ID", help="a session id or a unique prefix of one")
    show.add_argument("--json", action="store_true", help="print the raw events, one JSON object per line")

    from rioagent.swe.cli import add_eval_parser  # argparse only; the harness loads when eval runs

    add_eval_parser(commands, _Parser)
    return parser


def _add_tui_arguments(parser: argparse.ArgumentParser) -> None:
    """With no COMMAND, `rioagent` opens the interactive TUI in the current folder; these pick its model."""
    tui = parser.add_argument_group("interactive session (no COMMAND: the TUI in the current folder)")
    tui.add_argument(
        "--endpoint", metavar="URL", help="an OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1"
    )
    tui.add_argument("--model", metavar="NAME", help="the model name to ask the endpoint for")
    tui.add_argument(
        "--local", metavar="PATH", help="run a checkpoint in this process (a directory or hub id)"
    )
    tui.add_argument("--profile", metavar="NAME", help="a model profile from the config files")
    tui.add_argument(
        "--approval",
        choices=("ask", "auto-edit", "auto", "read-only"),
        help="what may run without asking (default here: ask)",
    )
    tui.add_argument("--think", choices=("on", "off", "swi", "auto"), help="thinking mode")
    tui.add_argument("--resume", metavar="ID", help="continue a session (an id or a unique prefix of one)")


def flags_layer(args: argparse.Namespace) -> dict[str, Any]:
    """The command line as a config layer (the same keys as the TOML files)."""
    from rioagent.config import endpoint_layer, local_layer, merge

    layer: dict[str, Any] = {}
    for key in ("approval", "think", "max_steps", "max_tokens", "max_seconds", "profile"):
        value = getattr(args, key, None)
        if value is not None:
            layer[key] = value
    if args.endpoint or args.model:
        layer = merge(layer, endpoint_layer(args.endpoint or "", args.model or "", args.profile or ""))
    if getattr(args, "local", None):
        layer = merge(layer, local_layer(args.local, args.profile or ""))
    return layer


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.local and args.endpoint:
        parser.error("give --local PATH (in-process) or --endpoint URL (a server), not both")
    flags = flags_layer(args)
    if args.batch:
        if args.task or args.resume:
            parser.error("--batch takes its tasks from the file: give no TASK and no --resume with it")
        from rioagent.batch import run_batch

        return run_batch(args.batch, flags, args.output_format, args.workers)
    if not args.task:
        parser.error('run needs a TASK, e.g. rioagent run "fix the failing test" (or --batch FILE.jsonl)')
    task = sys.stdin.read().strip() if args.task == "-" else args.task
    if not task:
        parser.error("the task read from stdin is empty")
    from rioagent.headless import RunOptions, run_command

    return run_command(
        RunOptions(
            task=task, repo=args.repo, output_format=args.output_format, flags=flags, resume=args.resume
        )
    )


def _tui(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.endpoint and args.local:
        parser.error("--endpoint and --local choose different backends: give one of them")
    if not (sys.stdin.isatty() and sys.stdout.isatty()):  # piped or scripted: a screen would hang there
        parser.print_help()
        print("rioagent: the interactive TUI needs a terminal; use `rioagent run TASK` here", file=sys.stderr)
        return 0
    from rioagent.tui.launch import TuiOptions, run_tui  # Textual loads only here

    return run_tui(TuiOptions(flags=flags_layer(args), resume=args.resume))


def _fmt_date(ts: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def _sessions(args: argparse.Namespace) -> int:
    from rioagent.headless import print_error
    from rioagent.session import SessionError, list_sessions, load_events, resolve_id, sessions_dir

    if args.sessions_command == "list":
        infos = list_sessions()
        if not infos:
            print(f"no sessions yet (they are kept in {sessions_dir()})")
            return 0
        for info in infos:
            task = " ".join(info.task.split())
            task = task if len(task) <= 50 else task[:49] + "…"
            print(f"{info.id}  {_fmt_date(info.started)}  {info.status:<11}  {task:<50}  {info.workspace}")
        return 0
    try:
        sid = resolve_id(args.id)
        events = load_events(sid)
    except SessionError as exc:
        print_error(str(exc))
        return EXIT_USAGE
    from rioagent.output import TextPrinter, json_line, safe_write

    if args.json:
        for event in events:
            safe_write(sys.stdout, json_line(event.to_dict()))
        return 0

    printer = TextPrinter(sys.stdout)
    for event in events:
        printer.event(event)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors: argparse already printed
        return int(exc.code or 0) if isinstance(exc.code, int | None) else EXIT_USAGE
    try:
        if args.command == "run":
            return _run(parser, args)
        if args.command == "sessions":
            return _sessions(args)
        if args.command == "eval":
            from rioagent.swe.cli import run_eval

            return run_eval(args, flags_layer(args) if args.eval_command == "swe" else {})
        if args.command is None:
            return _tui(parser, args)
    except SystemExit as exc:
        return int(exc.code or 0) if isinstance(exc.code, int | None) else EXIT_USAGE
    except BrokenPipeError:  # `rioagent ... | head`: the reader left; not an error of ours
        return 0
    parser.print_help()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
