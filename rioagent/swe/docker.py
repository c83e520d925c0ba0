"""--env docker: the official SWE-bench images (`swebench/sweb.eval.x86_64.<id>`), where a daemon runs.

Each image holds the repository at /testbed with its environment installed (conda env `testbed`). The
instance's workspace is bind-mounted over /testbed, so the agent's edit tools (which work on the host
files) and its shell (inside the container) see the same tree, and the grader runs the tests on it.
Every command runs in a fresh `docker run --rm --network none`: no network, nothing else of the host.

Caveat: mounting over /testbed hides what the image built there; repositories with compiled extensions
(astropy, scikit-learn, matplotlib) need their build redone in the workspace (the recipe's
`instance_install`), as with --env venv. This path is exercised by its argument-building tests only
(no daemon where it was written).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from rioagent.swe.envs import PreparedEnv
from rioagent.swe.instances import Instance
from rioagent.swe.sandbox import Sandbox
from rioagent.swe.specs import EnvSpec, SpecError, load_table, spec_for

TESTBED = "/testbed"
# The images' environment, activated before the command (SWE-bench's eval scripts do the same).
ACTIVATE = 'source /opt/miniconda3/bin/activate && conda activate testbed && exec "$@"'
# Variables the test runner and the shell set that must reach the container (docker -e NAME copies them
# from the docker command's own environment).
FORWARD = ("RIOAGENT_RESULTS_FILE", "HOME", "TMPDIR", "PIP_NO_INDEX", "PYTHONDONTWRITEBYTECODE", "TERM")


def image_name(
    instance_id: str, namespace: str = "swebench", arch: str = "x86_64", tag: str = "latest"
) -> str:
    """SWE-bench's instance image on Docker Hub: `__` is written `_1776_`, all lower case."""
    return f"{namespace}/sweb.eval.{arch}.{instance_id.replace('__', '_1776_')}:{tag}".lower()


@dataclass
class DockerSandbox(Sandbox):
    image: str = ""
    workspace: Path | None = None
    variables: list[str] = field(default_factory=list)  # names forwarded with -e

    def prefix(self) -> list[str]:
        assert self.workspace is not None and self.image
        args = ["docker", "run", "--rm", "-i", "--init"]
        if not self.network:
            args += ["--network", "none"]
        args += ["-v", f"{self.workspace}:{TESTBED}"]
        for path in self.readonly:
            args += ["-v", f"{path}:{path}:ro"]
        for path in self.writable:
            if Path(path) != self.workspace:
                args += ["-v", f"{path}:{path}"]
        for name in dict.fromkeys([*FORWARD, *self.variables]):
            args += ["-e", name]
        args += ["-w", TESTBED, "--entrypoint", "/bin/bash", self.image, "-c", ACTIVATE, "rioagent"]
        return args


class DockerEnv:
    """PreparedEnv for the images: `python` is the image's; the recipe table still picks the runner."""

    def __init__(self, table_file: Path | None = None, namespace: str = "swebench"):
        self.table = load_table(table_file)
        self.namespace = namespace

    def spec(self, instance: Instance) -> EnvSpec:
        try:
            return spec_for(instance.repo, instance.version, self.table)
        except SpecError:
            return EnvSpec(repo=instance.repo, version=instance.version)

    def prepare(self, instance: Instance, workspace: Path, scratch: Path) -> PreparedEnv:
        spec = self.spec(instance)
        return PreparedEnv(
            python="python",
            variables=dict(spec.env),
            spec=spec,
            image=image_name(instance.instance_id, self.namespace),
        )


def docker_sandbox(
    env: PreparedEnv, workspace: Path, scratch: Path, hidden: list[Path], network: bool = False
) -> DockerSandbox:
    """The container for one instance's commands: the workspace at /testbed, scratch read-only at its own
    path (the pytest plugin), HOME and TMPDIR writable, and the bash tool's temp folder readable."""
    return DockerSandbox(
        writable=[workspace, scratch / "home", scratch / "tmp"],
        readonly=[scratch, Path(tempfile.gettempdir())],
        hidden=hidden,
        network=network,
        image=env.image,
        workspace=workspace,
        variables=[*env.variables, "PYTHONPATH"],  # PYTHONPATH: where the test runner puts its plugin
    )
