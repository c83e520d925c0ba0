"""Checkpoints of the workspace's files after each agent step, on hidden refs, for /undo and the final patch.

Every snapshot is `git add -A` into a private index (never the user's), `git write-tree`, `git commit-tree`,
and `git update-ref refs/rioagent/<session>/step-<n>`. The user's HEAD, branch, index and stash are never
touched; only objects and refs under refs/rioagent/ are added to their repository.

- A workspace inside a git repository uses that repository's object store, so .gitignore (also in parent
  folders), .git/info/exclude and core.excludesFile all apply. When the workspace is a subfolder of the
  repository only that folder is captured; paths returned are relative to the workspace, those in patch()
  to the repository's root (what `git apply` wants, wherever it runs). Files the user tracks are captured
  even if a .gitignore matches them.
- Any other folder gets a shadow repository, <state_dir>/shadow/<sha1 of the workspace path>.git, with the
  folder as its work tree: nothing is written into the folder itself.

The private index lives in the state dir and persists between snapshots, so git's stat cache makes a
snapshot of a large tree cost about one `git status`, not a re-hash of every file.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

from rioagent.config import state_dir as default_state_dir

_IDENTITY = {
    "GIT_AUTHOR_NAME": "rioagent",
    "GIT_AUTHOR_EMAIL": "rioagent@localhost",
    "GIT_COMMITTER_NAME": "rioagent",
    "GIT_COMMITTER_EMAIL": "rioagent@localhost",
}
# Inherited variables that would point git at some other repository, index or object store.
GIT_LOCATION_VARS = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
)
# Settings that would change what git prints or writes in ways this module parses or relies on.
_CONFIG = (
    "-c", "core.quotePath=false",
    "-c", "advice.addEmbeddedRepo=false",
    "-c", "diff.noprefix=false",
)  # fmt: skip
# Only for the shadow repository: folders nobody wants snapshotted in a folder without a .gitignore.
_SHADOW_EXCLUDES = "\n".join(
    (".git/", ".venv/", "venv/", "node_modules/", "__pycache__/", "*.pyc", ".mypy_cache/", ".pytest_cache/",
     ".ruff_cache/", ".tox/", "")
)  # fmt: skip
_SESSION_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
_STEP_RE = re.compile(r"^step-(\d+)$")


class CheckpointError(RuntimeError):
    """A checkpoint operation failed; the message says what went wrong and what to do."""


class Checkpoints:
    """Snapshots of one workspace for one session, stored as commits under refs/rioagent/<session_id>/."""

    def __init__(self, workspace: Path, session_id: str, state_dir: Path | None = None):
        if not _SESSION_RE.match(session_id) or ".." in session_id or session_id.endswith((".lock", ".")):
            raise CheckpointError(
                f"session id {session_id!r} cannot name a git ref; use letters, digits, '.', '_' and '-'"
            )
        self.workspace = Path(workspace).resolve()
        if not self.workspace.is_dir():
            raise CheckpointError(f"workspace {self.workspace} is not a folder")
        self.session_id = session_id
        self.state_dir = Path(state_dir) if state_dir is not None else default_state_dir()
        self._lock = threading.Lock()
        self._base_env = {k: v for k, v in os.environ.items() if k not in GIT_LOCATION_VARS}
        self._base_env.update(_IDENTITY)
        self._base_env["GIT_TERMINAL_PROMPT"] = "0"
        self._env = self._locate()

    # ---- setup ---------------------------------------------------------------------------------------

    def _locate(self) -> dict[str, str]:
        """Decide which repository holds the checkpoints; return the env every git call runs with."""
        env = dict(self._base_env)
        top = self._probe(["rev-parse", "--show-toplevel"])
        self.shadow = top is None or self._ignored_by_enclosing_repo(Path(top))
        if self.shadow:
            key = hashlib.sha1(str(self.workspace).encode()).hexdigest()
            git_dir = self.state_dir / "shadow" / f"{key}.git"
            if not (git_dir / "HEAD").is_file():
                git_dir.parent.mkdir(parents=True, exist_ok=True)
                self._git(["init", "--bare", "-q", str(git_dir)], env=env)
                (git_dir / "info").mkdir(exist_ok=True)
                (git_dir / "info" / "exclude").write_text(_SHADOW_EXCLUDES, encoding="utf-8")
            env["GIT_DIR"] = str(git_dir)
            env["GIT_WORK_TREE"] = str(self.workspace)
            self.git_dir = git_dir
            self.toplevel = self.workspace
        else:
            self.toplevel = Path(top).resolve()  # type: ignore[arg-type]
            common = self._git(["rev-parse", "--git-common-dir"], env=env).strip()
            self.git_dir = (self.workspace / common).resolve()
        key = hashlib.sha1(f"{self.git_dir}\0{self.workspace}".encode()).hexdigest()[:16]
        self.index_file = self.state_dir / "checkpoints" / key / f"{self.session_id}.index"
        self.index_file.parent.mkdir(parents=True, exist_ok=True)
        env["GIT_INDEX_FILE"] = str(self.index_file)
        if not self.index_file.exists() and not self.shadow:
            self._seed_index(env)
        return env

    def _probe(self, args: list[str]) -> str | None:
        result = subprocess.run(
            ["git", *args], cwd=self.workspace, env=self._base_env, capture_output=True, text=True
        )
        return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else None

    def _ignored_by_enclosing_repo(self, top: Path) -> bool:
        """A folder the enclosing repository ignores (a tmp dir under a build/ folder, say) gets a shadow."""
        if top.resolve() == self.workspace:
            return False
        rel = os.path.relpath(self.workspace, top.resolve())
        result = subprocess.run(
            ["git", "check-ignore", "-q", "--", rel], cwd=top, env=self._base_env, capture_output=True
        )
        return result.returncode == 0

    def _seed_index(self, env: dict[str, str]) -> None:
        """Start the private index from the user's, so files they track but .gitignore matches are still
        captured. At the repository's root a copy of the whole index also brings git's stat cache, which
        spares hashing every file on the first snapshot."""
        if self.toplevel == self.workspace:
            user_index = Path(self._git(["rev-parse", "--git-path", "index"], env=self._base_env).strip())
            if not user_index.is_absolute():
                user_index = self.workspace / user_index
            if user_index.is_file():
                shutil.copyfile(user_index, self.index_file)
            return
        # A subfolder: only its own entries, so the checkpoints hold nothing outside the workspace.
        entries = self._git(["ls-files", "-s", "-z", "--full-name", "--", "."], env=self._base_env)
        if entries:
            self._git(["update-index", "-z", "--index-info"], env=env, input=entries.encode())

    # ---- git plumbing --------------------------------------------------------------------------------

    def _git(self, args: list[str], env: dict[str, str] | None = None, input: bytes | None = None) -> str:
        result = subprocess.run(
            ["git", *_CONFIG, *args],
            cwd=self.workspace,
            env=env if env is not None else self._env,
            input=input,
            capture_output=True,
        )
        if result.returncode != 0:
            stderr = result.stderr.decode("utf-8", "replace").strip()
            raise CheckpointError(f"git {' '.join(args[:2])} failed in {self.workspace}: {stderr}")
        # surrogateescape: file contents in a patch need not be UTF-8; encode it back the same way.
        return result.stdout.decode("utf-8", "surrogateescape")

    def _pathspec(self) -> list[str]:
        """The workspace, less rioagent's own state folder when it lies inside (running in $HOME, say):
        checkpointing our own index and refs would put binary noise into every patch."""
        state = self.state_dir.resolve()
        if state.is_relative_to(self.workspace):
            return [".", f":(exclude){state.relative_to(self.workspace).as_posix()}"]
        return ["."]

    def _scope(self) -> list[str]:
        """Flags that limit a diff to the workspace and print paths relative to it."""
        return [] if self.toplevel == self.workspace else ["--relative"]

    def _write_tree(self) -> str:
        """Bring the private index in line with the files (one `git add -A`) and return its tree."""
        try:
            self._git(["add", "-A", "--", *self._pathspec()])
        except CheckpointError:
            # A copied index git cannot use (split index, mid-merge state...): start it again, empty.
            self.index_file.unlink(missing_ok=True)
            self._git(["add", "-A", "--", *self._pathspec()])
        return self._git(["write-tree"]).strip()

    def _commit(self, tree: str, parent: str | None, message: str) -> str:
        args = ["commit-tree", "--no-gpg-sign", tree, "-m", message]
        if parent:
            args += ["-p", parent]
        return self._git(args).strip()

    def _refs(self) -> dict[str, tuple[str, str]]:
        """This session's refs: short name (base, step-3...) -> (commit, tree)."""
        prefix = f"refs/rioagent/{self.session_id}/"
        out = self._git(["for-each-ref", "--format=%(refname) %(objectname) %(tree)", prefix])
        refs = {}
        for line in out.splitlines():
            name, commit, tree = line.split(" ")
            refs[name.removeprefix(prefix)] = (commit, tree)
        return refs

    def _last(self, refs: dict[str, tuple[str, str]]) -> tuple[str, str]:
        steps = sorted((int(m.group(1)), v) for k, v in refs.items() if (m := _STEP_RE.match(k)))
        if steps:
            return steps[-1][1]
        if "base" not in refs:
            raise CheckpointError("no base checkpoint for this session yet: call start() first")
        return refs["base"]

    def _resolve(self, what: int | str) -> str:
        """A commit for a step number, "base", a short name of this session's refs (step-2, pre-restore)
        or any commit-ish."""
        if isinstance(what, int) or what == "base":
            candidates = [self.ref(what)]
        else:
            candidates = [f"refs/rioagent/{self.session_id}/{what}", what]
        for name in candidates:
            result = subprocess.run(
                ["git", "rev-parse", "--verify", "-q", "--end-of-options", f"{name}^{{commit}}"],
                cwd=self.workspace, env=self._env, capture_output=True, text=True,
            )  # fmt: skip
            if result.returncode == 0:
                return result.stdout.strip()
        have = ", ".join(["base", *(f"step-{n}" for n, _ in self.steps())])
        raise CheckpointError(f"no checkpoint {what!r} in session {self.session_id}; have: {have}")

    # ---- public API ----------------------------------------------------------------------------------

    def ref(self, step: int | str) -> str:
        """The ref name of a step; step 0 (or "base") is the start of the task."""
        if step == 0 or step == "base":
            return f"refs/rioagent/{self.session_id}/base"
        if not isinstance(step, int) or step < 0:
            raise CheckpointError(f"step must be 0/'base' or a positive integer, got {step!r}")
        return f"refs/rioagent/{self.session_id}/step-{step}"

    def start(self) -> str:
        """Snapshot the files as the task starts (uncommitted changes included); idempotent on resume."""
        with self._lock:
            refs = self._refs()
            if "base" in refs:
                return refs["base"][0]
            commit = self._commit(self._write_tree(), None, f"rioagent {self.session_id}: base")
            self._git(["update-ref", self.ref(0), commit])
            return commit

    def snapshot(self, step: int) -> str | None:
        """Checkpoint the files after `step` if they changed since the last checkpoint; else None.

        Re-using a step number (after an undo) replaces it and drops the abandoned later steps.
        """
        if not isinstance(step, int) or step < 1:
            raise CheckpointError(f"snapshot step must be a positive integer, got {step!r} (0 is the base)")
        with self._lock:
            refs = self._refs()
            later = [k for k in refs if (m := _STEP_RE.match(k)) and int(m.group(1)) >= step]
            for name in later:
                self._git(["update-ref", "-d", f"refs/rioagent/{self.session_id}/{name}"])
                refs.pop(name)
            parent, parent_tree = self._last(refs)
            tree = self._write_tree()
            if tree == parent_tree:
                return None
            commit = self._commit(tree, parent, f"rioagent {self.session_id}: step {step}")
            self._git(["update-ref", self.ref(step), commit])
            return commit

    def steps(self) -> list[tuple[int, str]]:
        """(step, commit) of every step checkpoint, oldest first (the base is not listed)."""
        refs = self._refs()
        return sorted((int(m.group(1)), v[0]) for k, v in refs.items() if (m := _STEP_RE.match(k)))

    def changed_paths(self, since: str | None = None) -> list[str]:
        """Paths that differ between a checkpoint (default: the last one) and the files now."""
        with self._lock:
            old = self._last(self._refs())[0] if since is None else self._resolve(since)
            tree = self._write_tree()
            return self._diff_names(old, tree)

    def _diff_names(self, old: str, new: str) -> list[str]:
        out = self._git(["diff-tree", "-r", "-z", "--no-renames", "--name-only", *self._scope(), old, new])
        return [p for p in out.split("\0") if p]

    def restore(self, step: int | str) -> list[str]:
        """Make the workspace's files those of a checkpoint (0 or "base": the start); return what changed.

        Changed and deleted files are written back and files created since are removed; ignored files
        are never touched, nor is anything of the user's git state. The files as they were just before
        are kept on refs/rioagent/<session>/pre-restore, so an undo can itself be undone.
        """
        with self._lock:
            target = self._resolve(step)
            refs = self._refs()
            current_tree = self._write_tree()
            message = f"rioagent {self.session_id}: pre-restore"
            current = self._commit(current_tree, self._last(refs)[0], message)
            self._git(["update-ref", f"refs/rioagent/{self.session_id}/pre-restore", current])
            paths = self._diff_names(current, target)
            if paths:
                # A two-tree merge on the private index: git's own checkout machinery writes, deletes,
                # fixes modes and prunes emptied folders, touching only files that differ.
                self._git(["read-tree", "-m", "-u", "--exclude-per-directory=.gitignore", current, target])
            return paths

    def patch(self, exclude: list[str] | None = None) -> str:
        """The task's patch: base checkpoint -> the files now, new files and binaries included.

        `exclude` takes paths or globs relative to the workspace (a folder excludes all below it).
        The patch applies with `git apply` in a checkout of the base. Its paths are relative to the
        repository's root, as `git apply` expects even when run in a subfolder. Bytes of files that are
        not UTF-8 come back as surrogates: write it with .encode("utf-8", "surrogateescape").
        """
        with self._lock:
            base = self._resolve("base")
            tree = self._write_tree()
            spec = ["."] + [f":(exclude){p}" for p in exclude or []]
            return self._git([
                "diff", "--binary", "--full-index", "--no-color", "--no-ext-diff", "--no-textconv",
                "--no-renames", "--src-prefix=a/", "--dst-prefix=b/", base, tree, "--", *spec,
            ])  # fmt: skip

    def drop(self) -> None:
        """Delete this session's refs and private index (its objects go with the repository's next gc)."""
        with self._lock:
            for name in self._refs():
                self._git(["update-ref", "-d", f"refs/rioagent/{self.session_id}/{name}"])
            self.index_file.unlink(missing_ok=True)
