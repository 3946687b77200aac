"""uv: `uv venv --relocatable` + `uv pip install --require-hashes` from the lock."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from tfsetup.backends._proc import run_step
from tfsetup.backends.base import HASHED_LOCK, BackendError, PackageSource, PythonSource, Target
from tfsetup.credentials import find_links_env, has_secret


def find_uv() -> str:
    override = os.environ.get("TFSETUP_UV")
    if override:
        return override
    try:
        from uv import find_uv_bin  # lazy: optional dependency (the uv wheel; without it, --backend pip)

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        raise BackendError("uv", "the uv binary is missing; reinstall tfsetup or use --backend pip") from None


def uv_or_none() -> Optional[str]:
    try:
        return find_uv()
    except BackendError:
        return None


class UvBackend:
    name = "uv"

    def __init__(self, uv: Optional[str] = None) -> None:
        self.uv = uv or find_uv()

    def create_venv(self, launch: List[str], path: Path, prompt: str) -> None:
        # Relocatable: the env is built in a staging dir and renamed into place; uv then writes
        # console scripts and activate files that find their env relative to themselves.
        run_step("create venv", [self.uv, "venv", "--quiet", "--relocatable", "--no-config",
                                 "--prompt", prompt, "--python", launch[-1], str(path)])

    def python_install_argv(self, key: str, source: PythonSource) -> List[str]:
        """Install a python-build-standalone CPython into uv's managed-Python store (UV_PYTHON_INSTALL_DIR,
        else ~/.local/share/uv/python). `key` names the arch (cpython-3.12-macos-aarch64-none): uv under
        Rosetta would otherwise pick an x86_64 build. --no-bin: uv would also link python3.12 into
        ~/.local/bin, a change to the user's PATH nobody asked for. uv checks the archive's sha256."""
        argv = [self.uv, "python", "install", "--no-config", "--no-bin", key]
        if source.mirror:
            argv += ["--mirror", source.mirror]
        if source.downloads_json_url:
            argv += ["--python-downloads-json-url", source.downloads_json_url]
        return argv + (["--offline"] if source.offline else [])

    def python_find_argv(self, key: str) -> List[str]:
        """The installed managed CPython for `key` (never a download, never a host Python)."""
        return [self.uv, "python", "find", "--no-config", "--managed-python", "--no-python-downloads", key]

    def install_python(self, key: str, source: PythonSource, on_line: Optional[Callable[[str], None]] = None) -> str:
        """Install (a no-op when it is there) and return the managed CPython's executable."""
        run_step("install Python", self.python_install_argv(key, source), on_line=on_line)
        found = run_step("find Python", self.python_find_argv(key)).strip().splitlines()
        if not found:
            raise BackendError("find Python", f"uv installed {key} but does not report its executable")
        return found[-1].strip()

    def install_lock_argv(self, python: Sequence[str], lock: Path, source: PackageSource,
                          target: Target) -> List[str]:
        # No --compile-bytecode: it compiles every .py in the env (4,400 files for tensorflow-cpu
        # 2.21, ~15 s on 2 cores), while the verification's first import (run with -I, so it writes
        # .pyc even under PYTHONDONTWRITEBYTECODE) compiles only the ~2,400 that `import
        # tensorflow` needs, and they land in the env before it is promoted (scripts/bench.py).
        # Not --quiet: its "Downloading tensorflow-cpu (240.1MiB)" lines are the install's progress.
        argv = [self.uv, "pip", "install", "--python", str(python[-1]), *HASHED_LOCK,
                "--no-config", "-r", os.path.abspath(lock)]
        if target.python_platform:
            argv += ["--python-platform", target.python_platform]
        return argv + source.args(no_network=["--offline"], no_index=["--no-index"])

    def install_packages_argv(self, python: Sequence[str], specs: Sequence[str], constraints: Path,
                              source: PackageSource) -> List[str]:
        return [self.uv, "pip", "install", "--python", str(python[-1]), "--no-config", "-c", str(constraints),
                *source.args(no_network=["--offline"], no_index=["--no-index"]), *specs]

    def uninstall_argv(self, python: Sequence[str], names: Sequence[str]) -> List[str]:
        return [self.uv, "pip", "uninstall", "--python", str(python[-1]), *names]

    def install_target_dir_argv(self, directory: Path, python_version: str, python_platform: str,
                                source: PackageSource, lock: Optional[Path] = None,
                                specs: Sequence[str] = ()) -> List[str]:
        """Unpack the wheels of a lock (hash-checked) or of exact pins, for another OS or arch, into a plain
        directory (`--target`): no interpreter of that platform is needed, and the uv cache makes the
        second fetch of the same wheels a matter of hard links (`tfsetup prove`)."""
        argv = [self.uv, "pip", "install", "--quiet", "--no-config", "--no-python-downloads", "--target",
                str(directory), "--python-version", python_version, "--python-platform", python_platform,
                "--no-deps", "--only-binary", ":all:"]
        if lock is not None:
            argv += ["--require-hashes", "-r", os.path.abspath(lock)]
        return argv + source.args(no_network=["--offline"], no_index=["--no-index"]) + list(specs)

    def pylock_argv(self, requirements: Path, python_version: str, python_platform: str,
                    source: PackageSource) -> List[str]:
        """PEP 751 pylock.toml of exact, hashed pins (a lock section) for another platform: no resolution
        (`--no-deps`: the pins are already the closure), uv only looks up each wheel's URL and size."""
        return [self.uv, "pip", "compile", os.path.abspath(requirements), "--no-config", "--quiet",
                "--no-python-downloads", "--format", "pylock.toml", "--no-header", "--no-deps",
                "--python-version", python_version, "--python-platform", python_platform,
                "--only-binary", ":all:", *source.args(no_network=["--offline"], no_index=["--no-index"])]

    def cache_clean_argv(self, names: Sequence[str]) -> List[str]:
        """Drop these packages from uv's cache (scripts/prove_recipes.py --prune: each TF wheel is ~1 GB
        unpacked)."""
        return [self.uv, "cache", "clean", "--quiet", *names]

    def compile_argv(self, requirements: Path, constraints: Path, python: Sequence[str], source: PackageSource,
                     lowest: bool = False) -> List[str]:
        """Resolve (install nothing) a requirements file under a constraints file, hash-pinned; `python` is
        the interpreter's options: ["--python", PATH] or ["--python-version", V, "--python-platform", P].
        `lowest`: the lowest version of the named packages that fits (nearest above a refused one)."""
        return [self.uv, "pip", "compile", str(requirements), "--no-config", "--quiet", "--no-python-downloads",
                "-c", str(constraints), *python, "--only-binary", ":all:", "--no-header", "--no-annotate",
                "--generate-hashes", *(["--resolution", "lowest-direct"] if lowest else []),
                *source.args(no_network=["--offline"], no_index=["--no-index"])]

    def cross_compile_argv(self, python_platform: str, python_version: str, index_urls: Sequence[str],
                           find_links: Sequence[str] = (), hashes: bool = True,
                           exclude_newer: Optional[str] = None) -> Tuple[List[str], Dict[str, str]]:
        """(argv, env) of `uv pip compile` for another platform and Python (a lock section, a recipe's lock):
        the requirements come on stdin ("-"), never on a command line, so a hostile name cannot become an
        option; index and find-links URLs with credentials go in the env, never on the argv."""
        # --no-python-downloads: cross-resolution needs no interpreter of that version; without the flag
        # uv may download one (slow, and off-index).
        argv = [self.uv, "pip", "compile", "-", "--no-config", "--quiet", "--no-python-downloads",
                "--python-platform", python_platform, "--python-version", python_version,
                "--only-binary", ":all:", "--no-header", "--no-annotate"]
        env: Dict[str, str] = {}
        if index_urls and any(has_secret(u) for u in index_urls):
            env["UV_DEFAULT_INDEX"] = index_urls[0]
            if index_urls[1:]:
                env["UV_INDEX"] = " ".join(index_urls[1:])
        elif index_urls:
            argv += ["--default-index", index_urls[0]]
            for extra in index_urls[1:]:
                argv += ["--index", extra]
        else:
            argv.append("--no-index")
        if any(has_secret(link) for link in find_links):
            env.update(find_links_env(find_links))
        else:
            for link in find_links:
                argv += ["--find-links", link]
        if hashes:
            argv.append("--generate-hashes")
        if exclude_newer:  # the resolution's cut-off: files uploaded later do not exist for it (reproducible)
            argv += ["--exclude-newer", exclude_newer]
        return argv, env
