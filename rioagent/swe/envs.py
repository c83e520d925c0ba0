"""Test environments for instances: `venv` (default), `host`, and `docker` (where a daemon runs).

venv, in two layers, so that the slow part happens once per (repository, version):
1. A shared environment per recipe (rioagent/swe/specs.yaml): a virtualenv with the right Python, the
   recipe's requirements and pins, and the project installed from a checkout at the instance's
   `environment_setup_commit`. Built under a file lock, marked complete only at the end, reused after.
2. Per instance, a copy of it made of hard links (no bytes copied; pip replaces files, never edits them in
   place, so the shared one is never touched), with the instance's own checkout installed into it
   (editable, no dependencies, no build isolation: seconds, offline). Scripts in bin/ are rewritten to
   name the copy's interpreter, so `pytest` typed in the agent's shell tests the workspace, not the
   shared checkout.

host: rioagent's own interpreter with the workspace on PYTHONPATH; nothing installed. For quick runs and
for tests on machines without a network.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rioagent.swe.instances import Instance
from rioagent.swe.pythons import PythonNotFound, find_python
from rioagent.swe.specs import EnvSpec, SpecError, load_table, spec_for
from rioagent.swe.workspace import create_workspace, file_lock

ENV_KINDS = ("venv", "host", "docker")
_MARKER = ".rioagent-complete"
_PIP_ENV = {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1", "PIP_PROGRESS_BAR": "off"}


class EnvError(RuntimeError):
    """An environment could not be built or prepared; the message says what failed and where the log is."""


@dataclass
class PreparedEnv:
    """What the sandbox and the test runner need to use an environment for one instance."""

    python: str
    bin_dirs: list[str] = field(default_factory=list)  # put first on PATH
    variables: dict[str, str] = field(default_factory=dict)
    readonly: list[Path] = field(default_factory=list)  # folders to bind read-only inside the sandbox
    hidden_dirs: list[Path] = field(default_factory=list)  # folders the sandbox hides
    image: str = ""  # --env docker: the container image commands run in
    spec: EnvSpec | None = None
    timings: dict[str, float] = field(default_factory=dict)
    reused: bool = True  # False when the shared environment was built for this instance

    def environ(self, base: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ if base is None else base)
        env.update(self.variables)
        env["PATH"] = os.pathsep.join([*self.bin_dirs, env.get("PATH", os.defpath)])
        return env


def _run(cmd: str | list[str], cwd: Path, env: dict[str, str], log: Path, timeout: float = 3600) -> None:
    shell = isinstance(cmd, str)
    with log.open("a", encoding="utf-8") as fh:
        fh.write(f"\n$ {cmd if shell else ' '.join(map(str, cmd))}   (in {cwd})\n")
        fh.flush()
        try:
            proc = subprocess.run(
                ["bash", "-c", cmd] if shell else cmd,
                cwd=cwd,
                env=env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise EnvError(f"`{cmd}` ran past {timeout:.0f}s; see {log}") from None
    if proc.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-1500:]
        raise EnvError(f"`{cmd}` failed (exit {proc.returncode}) in {cwd}; log {log}:\n{tail}")


def _venv_environ(venv: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(_PIP_ENV)
    env.update(extra or {})
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', os.defpath)}"
    return env


def _site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python*/site-packages"))
    if not found:
        raise EnvError(f"{venv} has no lib/pythonX.Y/site-packages")
    return found[0]


def _build_requires(checkout: Path) -> list[str]:
    """[build-system] requires of the checkout: needed for installs without build isolation."""
    path = checkout / "pyproject.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return ["setuptools", "wheel"] if (checkout / "setup.py").is_file() else []
    return [str(r) for r in data.get("build-system", {}).get("requires", [])]


def _changed_tracked(checkout: Path) -> list[str]:
    proc = subprocess.run(
        ["git", "diff", "--name-only", "-z"], cwd=checkout, capture_output=True, check=False
    )
    return [p for p in proc.stdout.decode(errors="replace").split("\0") if p]


def _pre_install_then(
    spec: EnvSpec, checkout: Path, env: dict[str, str], log: Path, command: str, restore: bool
) -> None:
    """Run the recipe's pre_install steps, then `command`; with `restore`, put back the tracked files the
    steps edited (a workspace's diff must hold only the agent's changes)."""
    before = set(_changed_tracked(checkout))
    for step in spec.pre_install:
        _run(step, checkout, env, log)
    edited = [p for p in _changed_tracked(checkout) if p not in before]
    try:
        if command:
            _run(command, checkout, env, log)
    finally:
        if restore and edited:
            subprocess.run(["git", "checkout", "--", *edited], cwd=checkout, capture_output=True, check=False)


def host_site_dirs() -> list[str]:
    """This interpreter's package folders as it sees them (its site-packages and those .pth files added),
    for environments with inherit_host. A .pth line is not read as a site dir, so every folder is listed."""
    paths = sysconfig.get_paths()
    found = [paths["purelib"], paths["platlib"]]
    found += [p for p in sys.path if p and ("site-packages" in p or "dist-packages" in p)]
    return [p for p in dict.fromkeys(found) if Path(p).is_dir()]


def link_copy(src: Path, dest: Path) -> None:
    """A copy of a folder tree made of hard links (a real copy where links are impossible)."""

    def link(s: str, d: str) -> None:
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)

    shutil.copytree(src, dest, symlinks=True, copy_function=link)


def _retarget_scripts(venv: Path, old: Path) -> None:
    """bin/ scripts of a copied venv name the old interpreter and VIRTUAL_ENV: rewrite them as new files
    (they are hard links shared with the original, which must not change)."""
    old_s, new_s = str(old).encode(), str(venv).encode()
    for path in (venv / "bin").iterdir():
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        if old_s not in data[:4096] and not path.name.startswith("activate"):
            continue
        mode = path.stat().st_mode
        path.unlink()
        path.write_bytes(data.replace(old_s, new_s))
        path.chmod(mode)
    cfg = venv / "pyvenv.cfg"
    data = cfg.read_bytes()
    cfg.unlink()
    cfg.write_bytes(data.replace(old_s, new_s))


class VenvEnvs:
    """Shared environments under `root`, one per recipe; `prepare` gives an instance its own layer."""

    def __init__(
        self,
        root: Path,
        source_for: Callable[[str], Path],
        table_file: Path | None = None,
        upgrade_pip: bool = True,
    ):
        self.root = Path(root)
        self.source_for = source_for
        self.table = load_table(table_file)
        self.upgrade_pip = upgrade_pip

    def spec(self, instance: Instance) -> EnvSpec:
        return spec_for(instance.repo, instance.version, self.table)

    def shared(self, instance: Instance) -> tuple[Path, bool]:
        """The shared environment's folder, built if needed; (folder, built_now)."""
        spec = self.spec(instance)
        folder = self.root / spec.dirname
        with file_lock(self.root / f"{spec.dirname}.lock"):
            if (folder / _MARKER).is_file():
                return folder, False
            if folder.exists():  # a build that died half way
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            self._build(spec, instance, folder)
        return folder, True

    def _build(self, spec: EnvSpec, instance: Instance, folder: Path) -> None:
        log = folder / "build.log"
        started = time.monotonic()
        try:
            python = find_python(spec.python)
        except PythonNotFound as exc:
            raise EnvError(f"{spec.repo} {spec.version}: {exc}") from None
        if spec.inherit_host and spec.python not in ("current", "{}.{}".format(*sys.version_info[:2])):
            raise EnvError(f"{spec.repo} {spec.version}: inherit_host needs python 'current'")
        venv = folder / "venv"
        # An environment that sees the host's packages sees its pip too: no private copy to bootstrap.
        bare = spec.inherit_host and importlib.util.find_spec("pip") is not None
        _run(
            [python, "-m", "venv", *(["--without-pip"] if bare else []), str(venv)],
            folder,
            _venv_environ(venv),
            log,
        )
        if spec.inherit_host:
            (_site_packages(venv) / "zz_rioagent_host.pth").write_text("\n".join(host_site_dirs()) + "\n")
        checkout = create_workspace(
            self.source_for(instance.repo),
            folder / "src",
            instance.environment_setup_commit or instance.base_commit,
        )
        env = _venv_environ(venv, spec.env)
        pip = "python -m pip install"
        if self.upgrade_pip and not bare:
            _run(f"{pip} --upgrade pip", checkout, env, log)
        for name in spec.requirements:
            if (checkout / name).is_file():
                _run(f"{pip} -r {name}", checkout, env, log)
                break
        if spec.packages:
            _run([*pip.split(), *spec.packages], checkout, env, log)
        if spec.pins:
            _run([*pip.split(), *spec.pins], checkout, env, log)
        _pre_install_then(spec, checkout, env, log, spec.install, restore=True)
        if "--no-build-isolation" in spec.instance_install:
            requires = _build_requires(checkout)
            if requires:
                _run([*pip.split(), *requires], checkout, env, log)
        if spec.runner == "pytest":
            probe = subprocess.run(
                [str(venv / "bin" / "python"), "-c", "import pytest"],
                env=env,
                check=False,
                capture_output=True,
            )
            if probe.returncode != 0:
                _run(f"{pip} pytest", checkout, env, log)
        seconds = round(time.monotonic() - started, 2)
        (folder / _MARKER).write_text(json.dumps({"spec": spec.dirname, "seconds": seconds}))

    def prepare(self, instance: Instance, workspace: Path, scratch: Path) -> PreparedEnv:
        """The instance's own layer in `scratch/venv`, with `workspace` installed into it."""
        spec = self.spec(instance)
        t0 = time.monotonic()
        try:
            folder, built = self.shared(instance)
        except (SpecError, EnvError):
            raise
        except Exception as exc:
            raise EnvError(f"{spec.repo} {spec.version}: building the environment failed: {exc}") from exc
        t1 = time.monotonic()
        venv = scratch / "venv"
        if venv.exists():
            shutil.rmtree(venv)
        link_copy(folder / "venv", venv)
        _retarget_scripts(venv, folder / "venv")
        t2 = time.monotonic()
        env = _venv_environ(venv, spec.env)
        _pre_install_then(spec, workspace, env, scratch / "install.log", spec.instance_install, restore=True)
        t3 = time.monotonic()
        return PreparedEnv(
            python=str(venv / "bin" / "python"),
            bin_dirs=[str(venv / "bin")],
            variables={"VIRTUAL_ENV": str(venv), **spec.env},
            readonly=[venv],  # the shared folder stays readable (the / bind); its src/ is hidden below
            # The shared checkout is at environment_setup_commit, often later than the base: out of sight
            # once each instance installs its own workspace.
            hidden_dirs=[folder / "src"] if spec.instance_install.strip() else [],
            spec=spec,
            timings={
                "env_shared": round(t1 - t0, 3),
                "env_copy": round(t2 - t1, 3),
                "env_install": round(t3 - t2, 3),
            },
            reused=not built,
        )


class HostEnv:
    """--env host: rioagent's interpreter and packages, the workspace first on PYTHONPATH."""

    def __init__(self, table_file: Path | None = None):
        self.table = load_table(table_file)

    def spec(self, instance: Instance) -> EnvSpec:
        try:
            return spec_for(instance.repo, instance.version, self.table)
        except SpecError:
            return EnvSpec(repo=instance.repo, version=instance.version, python="current")

    def prepare(self, instance: Instance, workspace: Path, scratch: Path) -> PreparedEnv:
        spec = self.spec(instance)
        return PreparedEnv(
            python=sys.executable,
            bin_dirs=[str(Path(sys.executable).parent)],
            variables={"PYTHONPATH": str(workspace), **spec.env},
            spec=spec,
        )


def check_docker() -> None:
    """--env docker needs a reachable daemon; without one say so and name the alternative."""
    if shutil.which("docker") is None:
        raise EnvError("--env docker: the docker command is not installed; use --env venv (the default)")
    proc = subprocess.run(
        ["docker", "info", "--format", "{{.ServerVersion}}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise EnvError(
            f"--env docker: no Docker daemon answers ({detail[-1] if detail else 'docker info failed'}); "
            "start one, or use --env venv (the default), which needs no daemon"
        )
