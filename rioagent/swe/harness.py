"""What the runner and the grader share: where repositories, environments and scratch folders live, which
environment kind is used, and how the sandbox for an instance is made.

HarnessConfig is plain data (to_dict/from_dict) so that it travels to pool processes and Ray workers;
each worker builds its own Harness from it.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rioagent.swe.docker import DockerEnv, docker_sandbox
from rioagent.swe.envs import HostEnv, PreparedEnv, VenvEnvs, check_docker
from rioagent.swe.instances import Instance
from rioagent.swe.sandbox import NoSandbox, Sandbox
from rioagent.swe.workspace import DEFAULT_URL, borrowed_objects, create_workspace, repo_root, source_for


def _inside(path: Path, folder: Path) -> bool:
    """Whether `path` is `folder` or lies under it (a folder the sandbox must not hide)."""
    try:
        Path(path).resolve().relative_to(Path(folder).resolve())
    except ValueError:
        return False
    return True


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rioagent" / "swe"


@dataclass
class HarnessConfig:
    cache_dir: str = field(default_factory=lambda: str(default_cache_dir()))
    repos_dir: str | None = None
    work_dir: str | None = None  # scratch folders; default cache_dir/work
    env: str = "venv"  # venv | host | docker
    env_table: str | None = None
    sandbox: bool = True
    hidden: list[str] = field(default_factory=list)  # files the sandbox hides (the instances file)
    test_timeout: float = 1800.0
    keep_work: bool = False
    upgrade_pip: bool = True
    url_template: str = DEFAULT_URL

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HarnessConfig:
        return cls(**data)


class Harness:
    def __init__(self, config: HarnessConfig):
        self.config = config
        self.cache_dir = Path(config.cache_dir).expanduser()
        self.work_dir = Path(config.work_dir).expanduser() if config.work_dir else self.cache_dir / "work"
        self.repos_dir = Path(config.repos_dir).expanduser() if config.repos_dir else None
        table = Path(config.env_table).expanduser() if config.env_table else None
        self.envs: VenvEnvs | HostEnv | DockerEnv
        if config.env == "docker":
            check_docker()
            self.envs = DockerEnv(table)
        elif config.env == "host":
            self.envs = HostEnv(table)
        else:
            self.envs = VenvEnvs(self.cache_dir / "envs", self.source, table, upgrade_pip=config.upgrade_pip)

    def source(self, repo: str) -> Path:
        return source_for(repo, self.repos_dir, self.cache_dir / "repos", self.config.url_template)

    def scratch(self, instance: Instance, purpose: str) -> Path:
        """A fresh private folder for one use of one instance (removed by `cleanup`)."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f"{instance.instance_id}-{purpose}-", dir=self.work_dir))
        for name in ("home", "tmp"):
            (folder / name).mkdir()
        return folder

    def cleanup(self, scratch: Path) -> None:
        if not self.config.keep_work:
            shutil.rmtree(scratch, ignore_errors=True)

    def workspace(self, instance: Instance, scratch: Path) -> Path:
        return create_workspace(self.source(instance.repo), scratch / "repo", instance.base_commit)

    def prepare_env(self, instance: Instance, workspace: Path, scratch: Path) -> PreparedEnv:
        return self.envs.prepare(instance, workspace, scratch)

    def checkout(
        self, instance: Instance, scratch: Path, times: dict[str, float]
    ) -> tuple[Path, PreparedEnv]:
        """The instance's workspace and its test environment; `times` gets each part's seconds as it
        finishes, so a failure still reports what was spent before it."""
        started = time.monotonic()
        workspace = self.workspace(instance, scratch)
        times["workspace"] = round(time.monotonic() - started, 3)
        env = self.prepare_env(instance, workspace, scratch)
        times.update(env.timings)
        return workspace, env

    def sandbox(self, workspace: Path, scratch: Path, env: PreparedEnv) -> Sandbox:
        """Writable: the workspace, HOME and TMPDIR. Hidden: the source repositories (all but their
        objects), other instances' scratch folders, the env's own checkout and the instances file."""
        if self.config.env == "docker":
            hidden = [Path(p) for p in self.config.hidden]
            return docker_sandbox(env, workspace, scratch, hidden, network=not self.config.sandbox)
        kind = Sandbox if self.config.sandbox else NoSandbox
        objects = borrowed_objects(workspace)
        # Every source repository, not only this instance's: all hold commits later than the base.
        sources = [self.cache_dir / "repos", *([self.repos_dir] if self.repos_dir else [])]
        needed = [workspace, self.cache_dir, Path(sys.prefix), Path(env.python)]
        sources = [s for s in sources if not any(_inside(n, s) for n in needed)]
        return kind(
            writable=[workspace, scratch / "home", scratch / "tmp"],
            readonly=[*objects, scratch, *env.readonly],
            hidden=[Path(p) for p in self.config.hidden],
            hidden_dirs=[self.work_dir, *sources, *(repo_root(o) for o in objects), *env.hidden_dirs],
            chdir=workspace,
        )

    def environ(self, env: PreparedEnv, scratch: Path) -> dict[str, str]:
        """The variables commands inside the sandbox get: the environment's, HOME and TMPDIR in scratch."""
        environ = env.environ()
        environ.update(
            {
                "HOME": str(scratch / "home"),
                "TMPDIR": str(scratch / "tmp"),
                "PIP_NO_INDEX": "1",
                "PYTHONDONTWRITEBYTECODE": "1",
            }
        )
        return environ
