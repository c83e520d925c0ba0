"""Summaries of an eval folder (grades and/or agent results) and the difference between two folders.

`summarize` is pure: records in, a JSON-able dict out; `markdown_summary` and `markdown_compare` turn
those into the tables `rioagent eval report` / `compare` print and report.md holds.
"""

from __future__ import annotations

import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from rioagent.swe.outputs import GradeDir, RunDir


def _mean(values: list[float]) -> float:
    return round(statistics.fmean(values), 2) if values else 0.0


def _median(values: list[float]) -> float:
    return round(float(statistics.median(values)), 2) if values else 0.0


def _pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def _agent_figures(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    rows = list(results.values())
    tokens = [float((r.get("tokens") or {}).get("total", 0)) for r in rows]
    thinking = [float((r.get("tokens") or {}).get("thinking", 0)) for r in rows]
    steps = [float(r.get("steps") or 0) for r in rows]
    wall = [float(r.get("wall_seconds") or 0) for r in rows]
    return {
        "instances": len(rows),
        "statuses": dict(Counter(str(r.get("status", "?")) for r in rows)),
        "exit_reasons": dict(Counter(str(r.get("exit_reason") or "-") for r in rows).most_common(10)),
        "empty_patches": sum(1 for r in rows if not r.get("patch_lines")),
        "tokens_mean": _mean(tokens),
        "tokens_median": _median(tokens),
        "thinking_tokens_mean": _mean(thinking),
        "tokens_total": int(sum(tokens)),
        "thinking_tokens_total": int(sum(thinking)),
        "steps_mean": _mean(steps),
        "wall_seconds_mean": _mean(wall),
        "wall_seconds_total": round(sum(wall), 1),
    }


def summarize(
    grades: dict[str, dict[str, Any]],
    results: dict[str, dict[str, Any]] | None = None,
    total: int | None = None,
) -> dict[str, Any]:
    """Resolved % over `total` (the instances asked for; default: those graded), per repository, status
    counts, and the agent's figures when `results` (results.jsonl) is given."""
    total = len(grades) if total is None else total
    resolved = sum(1 for g in grades.values() if g.get("resolved"))
    per_repo: dict[str, dict[str, Any]] = {}
    for g in grades.values():
        repo = per_repo.setdefault(str(g.get("repo", "?")), {"total": 0, "resolved": 0})
        repo["total"] += 1
        repo["resolved"] += bool(g.get("resolved"))
    for repo in per_repo.values():
        repo["resolved_pct"] = _pct(repo["resolved"], repo["total"])
    ids = sorted(set(grades) | set(results or {}))
    rows = []
    for iid in ids:
        g, r = grades.get(iid, {}), (results or {}).get(iid, {})
        tokens = r.get("tokens") or {}
        rows.append(
            {
                "instance_id": iid,
                "repo": g.get("repo") or r.get("repo", ""),
                "status": g.get("status"),
                "resolved": g.get("resolved"),
                "tokens": tokens.get("total"),
                "thinking_tokens": tokens.get("thinking"),
                "steps": r.get("steps"),
                "wall_seconds": r.get("wall_seconds"),
                "exit_reason": r.get("exit_reason"),
            }
        )
    summary: dict[str, Any] = {
        "total": total,
        "graded": len(grades),
        "resolved": resolved,
        "resolved_pct": _pct(resolved, total),
        "statuses": dict(Counter(str(g.get("status")) for g in grades.values())),
        "per_repo": dict(sorted(per_repo.items())),
        "instances": rows,
    }
    if results:
        summary["agent"] = _agent_figures(results)
    return summary


def load_dir(path: Path) -> dict[str, Any]:
    """The summary of an eval folder: grades.jsonl and/or results.jsonl, whichever it holds."""
    path = Path(path)
    grades, results = GradeDir(path).grades(), RunDir(path).results()
    if not grades and not results:
        raise ValueError(
            f"{path} holds neither grades.jsonl nor results.jsonl; give the --out folder of "
            "`rioagent eval swe` or `rioagent eval grade`"
        )
    total = len(set(grades) | set(results))
    return summarize(grades, results or None, total=total)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def markdown_summary(summary: dict[str, Any], title: str = "SWE-bench evaluation") -> str:
    lines = [f"# {title}", ""]
    if summary["graded"]:
        lines += [
            f"**Resolved: {summary['resolved']}/{summary['total']} ({summary['resolved_pct']:.1f}%)**"
            + (f", {summary['graded']} graded" if summary["graded"] != summary["total"] else ""),
            "",
            "Status: " + ", ".join(f"{k} {v}" for k, v in sorted(summary["statuses"].items())),
            "",
            "| repository | resolved | total | % |",
            "|---|---:|---:|---:|",
        ]
        lines += [
            f"| {repo} | {r['resolved']} | {r['total']} | {r['resolved_pct']:.1f} |"
            for repo, r in summary["per_repo"].items()
        ]
        lines.append("")
    agent = summary.get("agent")
    if agent:
        lines += [
            "## Agent",
            "",
            f"- instances: {agent['instances']} ("
            + ", ".join(f"{k} {v}" for k, v in agent["statuses"].items())
            + f"), empty patches: {agent['empty_patches']}",
            f"- tokens per instance: mean {agent['tokens_mean']:.0f}, median {agent['tokens_median']:.0f}; "
            f"thinking mean {agent['thinking_tokens_mean']:.0f} (total {agent['tokens_total']}, thinking "
            f"{agent['thinking_tokens_total']})",
            f"- steps per instance: mean {agent['steps_mean']:.1f}",
            f"- wall time per instance: mean {agent['wall_seconds_mean']:.1f}s "
            f"(sum {agent['wall_seconds_total']:.0f}s)",
            "- exit reasons: " + "; ".join(f"{k} ({v})" for k, v in agent["exit_reasons"].items()),
            "",
        ]
    lines += [
        "## Instances",
        "",
        "| instance | status | tokens | thinking | steps | seconds | exit reason |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for row in summary["instances"]:
        lines.append(
            f"| {row['instance_id']} | {_cell(row['status'])} | {_cell(row['tokens'])} | "
            f"{_cell(row['thinking_tokens'])} | {_cell(row['steps'])} | {_cell(row['wall_seconds'])} | "
            f"{_cell(row['exit_reason'])} |"
        )
    return "\n".join(lines) + "\n"


def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """What changed from summary `a` to summary `b`: resolved %, instances won and lost, cost."""
    ra = {r["instance_id"]: r for r in a["instances"]}
    rb = {r["instance_id"]: r for r in b["instances"]}
    common = sorted(set(ra) & set(rb))
    out: dict[str, Any] = {
        "a": {"total": a["total"], "resolved": a["resolved"], "resolved_pct": a["resolved_pct"]},
        "b": {"total": b["total"], "resolved": b["resolved"], "resolved_pct": b["resolved_pct"]},
        "resolved_pct_delta": round(b["resolved_pct"] - a["resolved_pct"], 2),
        "common": len(common),
        "only_in_a": sorted(set(ra) - set(rb)),
        "only_in_b": sorted(set(rb) - set(ra)),
        "newly_resolved": [i for i in common if rb[i]["resolved"] and not ra[i]["resolved"]],
        "newly_unresolved": [i for i in common if ra[i]["resolved"] and not rb[i]["resolved"]],
        "status_changes": {
            i: [ra[i]["status"], rb[i]["status"]] for i in common if ra[i]["status"] != rb[i]["status"]
        },
    }
    for key in ("tokens_mean", "thinking_tokens_mean", "wall_seconds_mean", "steps_mean"):
        va, vb = (a.get("agent") or {}).get(key), (b.get("agent") or {}).get(key)
        if va is not None and vb is not None:
            out[key] = {"a": va, "b": vb, "delta": round(vb - va, 2)}
    return out


def markdown_compare(diff: dict[str, Any], name_a: str, name_b: str) -> str:
    a, b = diff["a"], diff["b"]
    lines = [
        "# SWE-bench comparison",
        "",
        "| | A | B | B - A |",
        "|---|---:|---:|---:|",
        f"| resolved % | {a['resolved_pct']:.1f} | {b['resolved_pct']:.1f} | "
        f"{diff['resolved_pct_delta']:+.1f} |",
        f"| resolved | {a['resolved']}/{a['total']} | {b['resolved']}/{b['total']} | "
        f"{b['resolved'] - a['resolved']:+d} |",
    ]
    for key, label in (
        ("tokens_mean", "tokens / instance"),
        ("thinking_tokens_mean", "thinking tokens / instance"),
        ("steps_mean", "steps / instance"),
        ("wall_seconds_mean", "seconds / instance"),
    ):
        if key in diff:
            v = diff[key]
            lines.append(f"| {label} | {v['a']:.1f} | {v['b']:.1f} | {v['delta']:+.1f} |")
    lines += ["", f"A: {name_a}", f"B: {name_b}", f"Instances in both: {diff['common']}", ""]
    for key, label in (
        ("newly_resolved", "Resolved in B, not in A"),
        ("newly_unresolved", "Resolved in A, not in B"),
        ("only_in_a", "Only in A"),
        ("only_in_b", "Only in B"),
    ):
        if diff[key]:
            lines += [f"## {label} ({len(diff[key])})", "", *[f"- {i}" for i in diff[key]], ""]
    return "\n".join(lines) + "\n"
