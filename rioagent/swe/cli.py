"""`rioagent eval swe | grade | report | compare`: the arguments, and what each action does with them.

Only argparse is imported at module level (rioagent.cli builds this parser on every start); the harness
is imported when an action runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rioagent.argtypes import EXIT_USAGE, positive_int


def _selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--instances",
        required=True,
        metavar="FILE",
        help="SWE-bench instances: a .json list (as published) or .jsonl, one instance per line",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--ids", nargs="+", metavar="ID", help="only these instance ids")
    which.add_argument("--slice", metavar="START:END", help="a slice of the file's instances, e.g. 0:50")


def _harness(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("workspaces, environments and sandbox")
    group.add_argument(
        "--repos-dir",
        metavar="DIR",
        help="local git repositories named owner__repo (bare or not); else clones of github.com, cached",
    )
    group.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="cached clones, environments, scratch (default ~/.cache/rioagent/swe)",
    )
    group.add_argument(
        "--env",
        choices=("venv", "host", "docker"),
        default="venv",
        help="venv: a virtualenv per repo/version from the install table (default); host: this Python "
        "with the workspace on PYTHONPATH; docker: the official SWE-bench images (needs a daemon)",
    )
    group.add_argument(
        "--env-table", metavar="FILE.yaml", help="install recipes merged over the built-in table"
    )
    group.add_argument(
        "--no-sandbox", action="store_true", help="run commands and tests without bubblewrap (network open)"
    )
    group.add_argument("--test-timeout", type=float, default=1800.0, metavar="S", help="per test run")
    group.add_argument("--keep-work", action="store_true", help="keep each instance's scratch folder")
    group.add_argument(
        "--executor",
        choices=("local", "ray", "inline"),
        default="local",
        help="local: a process pool here (default); ray: tasks on a Ray cluster; inline: one by one here",
    )
    group.add_argument(
        "--ray-address", metavar="ADDR", help="an existing Ray cluster (default: start one here)"
    )
    group.add_argument("--workers", type=positive_int, default=1, metavar="N", help="instances at once")


def add_eval_parser(commands: Any, parser_class: type[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add `eval` and its actions to the top-level subparsers (`parser_class`: the CLI's error style)."""
    ev = commands.add_parser(
        "eval",
        help="SWE-bench evaluation: run the agent on instances, grade predictions, report",
        description="SWE-bench-style evaluation: many instances in parallel, each in its own sandbox.",
    )
    actions = ev.add_subparsers(
        dest="eval_command", metavar="ACTION", parser_class=parser_class, required=True
    )

    swe = actions.add_parser(
        "swe",
        help="run the agent on instances; writes preds.json, results.jsonl and logs",
        description="Run the agent headless on each instance, in a sandbox without network. A rerun into "
        "the same --out skips finished instances.",
    )
    _selection(swe)
    swe.add_argument("--out", required=True, metavar="DIR", help="where preds.json, results.jsonl, logs/ go")
    model = swe.add_argument_group("model")
    model.add_argument("--endpoint", metavar="URL", help="an OpenAI-compatible endpoint")
    model.add_argument("--model", metavar="NAME", help="the model name to ask the endpoint for")
    model.add_argument("--local", metavar="PATH", help="a checkpoint run in each worker process")
    model.add_argument("--profile", metavar="NAME", help="a model profile from the config files")
    model.add_argument("--think", choices=("on", "off", "swi", "auto"), help="thinking mode")
    model.add_argument(
        "--max-steps", type=positive_int, metavar="N", help="model turns per instance (default 50)"
    )
    model.add_argument("--max-tokens", type=positive_int, metavar="N", help="token budget per instance")
    model.add_argument("--max-seconds", type=float, metavar="S", help="wall-time budget per instance")
    model.add_argument("--model-name", metavar="NAME", help="model_name_or_path written in preds.json")
    swe.add_argument("--grade", action="store_true", help="grade each prediction as soon as it is made")
    _harness(swe)

    grade = actions.add_parser(
        "grade",
        help="apply predictions, run the tests, and report what is resolved",
        description="Grade predictions as SWE-bench does: resolved when every FAIL_TO_PASS and every "
        "PASS_TO_PASS test passes. Writes grades.jsonl, grades/ID/report.json and report.md.",
    )
    _selection(grade)
    grade.add_argument(
        "--preds",
        required=True,
        metavar="FILE|gold|empty",
        help="a predictions file (preds.json), or gold (the reference fixes) or empty (no change)",
    )
    grade.add_argument("--out", required=True, metavar="DIR", help="where the reports go")
    _harness(grade)

    report = actions.add_parser("report", help="summarise an eval folder (resolved %%, tokens, time)")
    report.add_argument("dir", metavar="DIR", help="the --out folder of `eval swe` or `eval grade`")
    report.add_argument("--json", action="store_true", help="print the summary as JSON")

    comp = actions.add_parser("compare", help="what changed between two eval folders")
    comp.add_argument("a", metavar="DIR_A")
    comp.add_argument("b", metavar="DIR_B")
    comp.add_argument("--json", action="store_true", help="print the difference as JSON")
    return ev


def _error(message: str) -> int:
    print(f"rioagent: error: {message}", file=sys.stderr, flush=True)
    return EXIT_USAGE


def _harness_config(args: argparse.Namespace) -> Any:
    from rioagent.swe.harness import HarnessConfig

    config = HarnessConfig(
        repos_dir=args.repos_dir,
        env=args.env,
        env_table=args.env_table,
        sandbox=not args.no_sandbox,
        hidden=[str(Path(args.instances).expanduser().resolve())],
        test_timeout=args.test_timeout,
        keep_work=args.keep_work,
    )
    if args.cache_dir:
        config.cache_dir = str(Path(args.cache_dir).expanduser().resolve())
    if args.repos_dir:
        config.repos_dir = str(Path(args.repos_dir).expanduser().resolve())
        if not Path(config.repos_dir).is_dir():
            raise ValueError(f"--repos-dir {args.repos_dir}: no such folder")
    return config


def _check_tools(args: argparse.Namespace) -> None:
    """Fail before any work when the sandbox, Docker or Ray cannot be had (one message, not N errors)."""
    if not args.no_sandbox:
        from rioagent.swe.sandbox import check_bwrap

        check_bwrap()
    if args.env == "docker":
        from rioagent.swe.envs import check_docker

        check_docker()
    if args.executor == "ray":
        try:
            import ray  # noqa: F401
        except ModuleNotFoundError:
            raise ValueError("--executor ray needs Ray: pip install 'rioagent[ray]'") from None


def _swe(args: argparse.Namespace, flags: dict[str, Any]) -> int:
    from rioagent.config import ConfigError, load_settings
    from rioagent.swe.evaluate import EvalOptions, run_swe
    from rioagent.swe.instances import load_instances

    if args.local and args.endpoint:
        return _error("give --local PATH (in-process) or --endpoint URL (a server), not both")
    try:
        settings = load_settings(Path.cwd(), flags={**flags, "approval": "auto"})
        profile = settings.model_profile()
    except ConfigError as exc:
        return _error(f"{exc} (fix that setting, or override it with a flag)")
    opts = EvalOptions(
        instances=load_instances(args.instances, args.ids, args.slice),
        out=Path(args.out).expanduser().resolve(),
        harness=_harness_config(args),
        executor=args.executor,
        workers=args.workers,
        ray_address=args.ray_address,
        flags=flags,
        model_name=args.model_name or profile.model or settings.profile,
        grade=args.grade,
    )
    return run_swe(opts)


def _grade(args: argparse.Namespace) -> int:
    from rioagent.swe.evaluate import EvalOptions, load_patches, run_grade
    from rioagent.swe.instances import load_instances

    instances = load_instances(args.instances, args.ids, args.slice)
    opts = EvalOptions(
        instances=instances,
        out=Path(args.out).expanduser().resolve(),
        harness=_harness_config(args),
        executor=args.executor,
        workers=args.workers,
        ray_address=args.ray_address,
    )
    return run_grade(opts, load_patches(args.preds, instances))


def _report(args: argparse.Namespace) -> int:
    from rioagent.swe.report import compare, load_dir, markdown_compare, markdown_summary

    if args.eval_command == "report":
        summary = load_dir(Path(args.dir))
        print(json.dumps(summary, indent=1) if args.json else markdown_summary(summary), end="\n")
        return 0
    diff = compare(load_dir(Path(args.a)), load_dir(Path(args.b)))
    print(json.dumps(diff, indent=1) if args.json else markdown_compare(diff, args.a, args.b), end="\n")
    return 0


def run_eval(args: argparse.Namespace, flags: dict[str, Any]) -> int:
    """Run the parsed `eval` action; usage problems print one clear line and return 2."""
    from rioagent.swe.envs import EnvError
    from rioagent.swe.executors import ExecutorError
    from rioagent.swe.instances import InstanceError
    from rioagent.swe.sandbox import SandboxError
    from rioagent.swe.specs import SpecError

    try:
        if args.eval_command in ("report", "compare"):
            return _report(args)
        _check_tools(args)
        return _swe(args, flags) if args.eval_command == "swe" else _grade(args)
    except (InstanceError, SandboxError, EnvError, ExecutorError, SpecError, ValueError, OSError) as exc:
        return _error(str(exc))
