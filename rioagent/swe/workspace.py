"""A workspace per instance: a checkout of the repository at `base_commit`, made in well under a second.

Sources: `--repos-dir` holding `owner__repo` git repositories (bare or not, `.git` suffix or not), else a
bare clone of the repository's URL kept in a cache folder and reused by every later instance and run.

A workspace is a fresh `git init` that borrows the source's objects through `objects/info/alternates`
(nothing is copied) with one branch at the base commit. No remote, no tags and no other refs: the commits
that fixed the issue are not reachable from anything the agent can list. They are still in the borrowed
object store, as in any full clone; finding them means hunting unreachable objects by hash.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from rioagent.swe.gitutil import GitError, git, git_text

BRANCH = "main"
# Build and tool output that must never end up in a model's patch as new files.
_EXCLUDES = (
    "*.egg-info/",
    ".eggs/",
    "__pycache__/",
    "*.py[cod]",
    ".pytest_cache/",
    ".tox/",
    ".mypy_cache/",
    "pip-wheel-metadata/",
    ".hypothesis/",
    "",
)
DEFAULT_URL = "https://github.com/{repo}.git"


class WorkspaceError(RuntimeError):
    """A source or workspace could not be made; the message says what to fix."""


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (and Ray workers on one host) on `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _is_repo(path: Path) -> bool:
    if not path.is_dir():
        return False
    proc = git("rev-parse", "--git-dir", cwd=path, check=False)
    if proc.returncode != 0:
        return False
    # A plain folder inside some other repository answers too, with that repository's git dir.
    gitdir = (path / proc.stdout.decode().strip()).resolve()
    return gitdir in (path.resolve(), (path / ".git").resolve())


def find_local_source(repo: str, repos_dir: Path) -> Path | None:
    """`repos_dir/owner__repo` (or `.git`), when it is a git repository."""
    name = repo.replace("/", "__")
    for candidate in (repos_dir / name, repos_dir / f"{name}.git"):
        if _is_repo(candidate):
            return candidate.resolve()
    return None


def source_for(repo: str, repos_dir: Path | None, cache_dir: Path, url_template: str = DEFAULT_URL) -> Path:
    """The repository to borrow objects from: a local mirror, or a cached bare clone (made once)."""
    if repos_dir is not None:
        found = find_local_source(repo, repos_dir)
        if found is not None:
            return found
    name = repo.replace("/", "__")
    target = cache_dir / f"{name}.git"
    with file_lock(cache_dir / f"{name}.lock"):
        if _is_repo(target):
            return target.resolve()
        url = url_template.format(repo=repo)
        where = f"no {name} in --repos-dir {repos_dir}, and " if repos_dir is not None else ""
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=cache_dir))
        try:
            git("clone", "--bare", "--quiet", url, str(tmp / "repo.git"), timeout=3600)
        except GitError as exc:
            raise WorkspaceError(
                f"{where}cloning {url} failed: {exc}. Put a clone at {cache_dir}/{name}.git or pass "
                f"--repos-dir with {name} in it"
            ) from None
        finally:
            if (tmp / "repo.git").is_dir():
                os.replace(tmp / "repo.git", target)
            shutil.rmtree(tmp, ignore_errors=True)
    return target.resolve()


def _objects_dir(source: Path) -> Path:
    path = Path(git_text("rev-parse", "--git-path", "objects", cwd=source))
    return (path if path.is_absolute() else source / path).resolve()


def create_workspace(source: Path, dest: Path, commit: str) -> Path:
    """A fresh checkout of `commit` at `dest` (whatever was there is removed)."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    git("init", "--quiet", f"--initial-branch={BRANCH}", str(dest))
    gitdir = dest / ".git"
    objects = _objects_dir(source)
    alternates = [str(objects)]
    borrowed = objects / "info" / "alternates"  # the source may borrow too (a --shared clone)
    if borrowed.is_file():
        alternates += [line for line in borrowed.read_text().splitlines() if line.strip()]
    (gitdir / "objects" / "info" / "alternates").write_text("\n".join(alternates) + "\n")
    (gitdir / "info").mkdir(exist_ok=True)
    (gitdir / "info" / "exclude").write_text("\n".join(_EXCLUDES))
    for key, value in (
        ("gc.auto", "0"),
        ("core.autocrlf", "false"),
        ("user.name", "rioagent-eval"),
        ("user.email", "eval@rioagent.invalid"),
        ("advice.detachedHead", "false"),
    ):
        git("config", key, value, cwd=dest)
    if git("cat-file", "-e", f"{commit}^{{commit}}", cwd=dest, check=False).returncode != 0:
        raise WorkspaceError(
            f"commit {commit} is not in {source}; update that repository (git fetch) or give another "
            "--repos-dir"
        )
    git("update-ref", f"refs/heads/{BRANCH}", commit, cwd=dest)
    tag = _nearest_tag(source, commit)
    if tag is not None:  # version-from-git tools (setuptools_scm) need it; no later tag is copied
        git("tag", tag[0], tag[1], cwd=dest)
    git("checkout", "--quiet", "--force", BRANCH, cwd=dest)
    return dest


def borrowed_objects(workspace: Path) -> list[Path]:
    """The object stores a workspace borrows (its alternates), which a sandbox must keep readable."""
    path = workspace / ".git" / "objects" / "info" / "alternates"
    if not path.is_file():
        return []
    return [Path(line.strip()) for line in path.read_text().splitlines() if line.strip()]


def repo_root(objects: Path) -> Path:
    """The repository an objects folder belongs to: the bare repository, or the work tree of `.git`."""
    gitdir = objects.parent
    return gitdir.parent if gitdir.name == ".git" else gitdir


def _nearest_tag(source: Path, commit: str) -> tuple[str, str] | None:
    """The newest tag reachable from `commit` and the commit it names, as `git describe` finds it."""
    proc = git("describe", "--tags", "--abbrev=0", commit, cwd=source, check=False)
    name = proc.stdout.decode(errors="replace").strip()
    if proc.returncode != 0 or not name:
        return None
    return name, git_text("rev-parse", f"{name}^{{commit}}", cwd=source)


def reset_workspace(workspace: Path, commit: str) -> None:
    """Tracked files back to `commit`, files added to the index removed; untracked build output stays."""
    git("reset", "--hard", "--quiet", commit, cwd=workspace)


def model_patch(workspace: Path, base: str, exclude: list[str] | None = None) -> str:
    """`git diff` of the working tree (new files included) against `base`, leaving out `exclude`.

    Diffed through a private copy of the index, so the agent's own staging changes nothing; renames are
    written as delete + add so that `patch` can apply the result too.
    """
    gitdir = workspace / ".git"
    with tempfile.TemporaryDirectory(prefix="rioagent-diff-") as tmp:
        index = Path(tmp) / "index"
        env = {"GIT_INDEX_FILE": str(index)}
        if (gitdir / "index").is_file():
            shutil.copyfile(gitdir / "index", index)  # keeps git's stat cache: no re-hash of every file
        else:
            git("read-tree", base, cwd=workspace, env=env)
        git("add", "-A", "--", ".", cwd=workspace, env=env)
        specs = [f":(exclude,literal){path}" for path in exclude or []]
        proc = git(
            "diff",
            "--cached",
            "--binary",
            "--no-renames",
            "--no-ext-diff",
            "--src-prefix=a/",
            "--dst-prefix=b/",
            base,
            "--",
            ".",
            *specs,
            cwd=workspace,
            env=env,
        )
    text = proc.stdout.decode("utf-8", errors="replace")
    return text if not text or text.endswith("\n") else text + "\n"
