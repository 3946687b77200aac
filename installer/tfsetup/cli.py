"""The typer app: declares each command's options, calls the command (commands/: it decides its outcome and
exit code) and hands the outcome to render.py (commands/_finish.py: how the process ends, errors included).

Heavy modules are imported inside the commands so `tfsetup detect` and `plan` start fast.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, List, Optional

import typer

from tfsetup import __version__
from tfsetup.commands._finish import run_command
from tfsetup.commands._options import (ACCEL_OPT, CPU_OPT, HOST_FILE_OPT, JSON_OPT, KERAS_OPT, MANAGED_PY_OPT,
                                       NO_PROJECT_OPT, PLATFORM_OPT, PRE_OPT, PY_DOWNLOADS_OPT, PY_OPT, PYTHONS_OPT,
                                       RECIPE_OPT, RECIPES_OPT, TF_OPT)
from tfsetup.output import emit_json, err

if TYPE_CHECKING:
    from tfsetup.commands._common import Outcome

app = typer.Typer(
    add_completion=True,
    rich_markup_mode=None,  # help texts contain [tool.tfsetup], which is not markup
    no_args_is_help=True,
    help="Get a verified TensorFlow environment with one command, and repair broken ones.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        print(f"tfsetup {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", "-V", callback=_version_callback, is_eager=True,
                                       help="Show the version and exit.")) -> None:
    """tfsetup: detect -> plan -> stage -> install -> verify -> promote."""


def _run(json_out: bool, name: str, call: Callable[[Any], Outcome]) -> None:
    """Run commands/<name>.py: `call` gets the module (imported only now: `detect` and `plan` start fast)."""
    import importlib

    run_command(json_out, lambda: call(importlib.import_module(f"tfsetup.commands.{name}")))


def _show(json_out: bool, doc: Any, draw: Callable[[Any], None]) -> None:
    """For `prove`, whose body still prints its own result (an int comes back): with --json one document on
    stdout, else render.py draws it (`draw` gets the render module)."""
    if json_out:
        emit_json(doc)
        return
    from tfsetup import render

    draw(render)


@app.command(short_help="This machine: OS, chip, Rosetta, GPUs, Pythons.")
def detect(json_out: bool = JSON_OPT) -> None:
    """Show this machine's facts: OS, chip, Rosetta, GPUs and the Python interpreters found."""
    _run(json_out, "detect", lambda command: command.run())


@app.command(short_help="The recipes table; which rows fit this host.")
def recipes(
    show_all: bool = typer.Option(False, "--all", help="Show every platform's rows, not only this host's."),
    host_file: Optional[Path] = HOST_FILE_OPT,
    recipes_file: Optional[Path] = RECIPES_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """List the recipes table, marking which rows fit this host and why the others do not."""
    _run(json_out, "recipes", lambda command: command.run(show_all, host_file, recipes_file))


def _flags(tf: Optional[str], python: Optional[str], cpu_only: bool, accelerator: Optional[str],
           recipe: Optional[str], pre: bool, **more):
    from tfsetup.commands._common import make_flags

    return make_flags(tf=tf, python=python, cpu_only=cpu_only, accelerator=accelerator, recipe=recipe, pre=pre,
                      **more)


@app.command(short_help="What install would choose, and why (changes nothing).")
def plan(
    host_file: Optional[Path] = HOST_FILE_OPT,
    tf: Optional[str] = TF_OPT,
    python: Optional[str] = PY_OPT,
    cpu_only: bool = CPU_OPT,
    accelerator: Optional[str] = ACCEL_OPT,
    recipe: Optional[str] = RECIPE_OPT,
    pre: bool = PRE_OPT,
    keras: Optional[int] = KERAS_OPT,
    python_downloads: Optional[str] = PY_DOWNLOADS_OPT,
    managed_python: bool = MANAGED_PY_OPT,
    no_project: bool = NO_PROJECT_OPT,
    recipes_file: Optional[Path] = RECIPES_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Choose the recipe and interpreter for this host (or --host-file) and say why; installs nothing."""
    _run(json_out, "plan", lambda command: command.run(
        dict(tf=tf, python=python, cpu_only=cpu_only, accelerator=accelerator, recipe=recipe, pre=pre, keras=keras,
             python_downloads=python_downloads, managed_python=managed_python), no_project, host_file, recipes_file))


@app.command(short_help="Build, verify and put in place a TensorFlow env.")
def install(
    path: Optional[Path] = typer.Argument(None, metavar="[PATH]", show_default=False,
                                          help="Where the env goes (default: the project's 'env', else ./.venv)."),
    tf: Optional[str] = TF_OPT,
    python: Optional[str] = PY_OPT,
    recipe: Optional[str] = RECIPE_OPT,
    cpu_only: bool = CPU_OPT,
    accelerator: Optional[str] = ACCEL_OPT,
    pre: bool = PRE_OPT,
    keras: Optional[int] = KERAS_OPT,
    backend: str = typer.Option("uv", "--backend", metavar="uv|pip", help="Install engine: uv or pip."),
    force: bool = typer.Option(False, "--force",
                               help="Replace an existing env at PATH (kept until the new one verifies)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Answer yes to questions."),
    no_verify: bool = typer.Option(False, "--no-verify", help="Skip the verification suite (not recommended)."),
    index_url: Optional[str] = typer.Option(None, "--index-url", metavar="URL",
                                            help="Take wheels from this index (hashes enforced)."),
    find_links: List[str] = typer.Option([], "--find-links", metavar="DIR|URL",
                                         help="Also take wheels from this directory or URL "
                                         "(a `tfsetup wheelhouse`); repeatable."),
    offline: bool = typer.Option(False, "--offline", help="No network: only the --find-links wheelhouses, or "
                                 "without them only the local cache."),
    python_downloads: Optional[str] = PY_DOWNLOADS_OPT,
    managed_python: bool = MANAGED_PY_OPT,
    no_project: bool = NO_PROJECT_OPT,
    recipes_file: Optional[Path] = RECIPES_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Plan, build a venv from the recipe's hash-pinned lock, verify it, then put it at PATH.

    In a project (tfsetup.toml or [tool.tfsetup] from here upwards) its settings apply under these
    flags, and with a tfsetup.lock exactly this host's section of it is installed.
    """
    from tfsetup import render

    _run(json_out, "install", lambda command: command.run(
        dict(tf=tf, python=python, cpu_only=cpu_only, accelerator=accelerator, recipe=recipe, pre=pre, path=path,
             index_url=index_url, find_links=tuple(find_links), offline=offline, keras=keras,
             python_downloads=python_downloads, managed_python=managed_python),
        no_project, recipes_file, backend, force, not no_verify, yes, render.stage_progress(json_out),
        show_plan=None if json_out else render.render_plan_result))


@app.command(short_help="Run the verification suite in an env.")
def verify(
    path: Optional[Path] = typer.Argument(None, metavar="[PATH]", help="The env to verify (default: the project's env, "
                                          "$VIRTUAL_ENV, ./.venv or $CONDA_PREFIX).", show_default=False),
    benchmark: bool = typer.Option(False, "--benchmark", help="Also measure GPU vs CPU throughput."),
    timeout: float = typer.Option(600, "--timeout", metavar="SECONDS", help="Seconds before the probe is stopped."),
    json_out: bool = JSON_OPT,
) -> None:
    """Run the verification suite inside an existing env (exit 1 when a check fails)."""
    from tfsetup.render import progress_lines

    _run(json_out, "verify", lambda command: command.run(path, benchmark, timeout, progress_lines(json_out)))


@app.command(short_help="Find what is wrong in an env; --fix repairs it.")
def doctor(
    path: Optional[Path] = typer.Argument(None, metavar="[PATH]",
                                          help="The env to check (default: the project's env, $VIRTUAL_ENV, "
                                          "./.venv, $CONDA_PREFIX, or this Python's env if it has TensorFlow).",
                                          show_default=False),
    deep: bool = typer.Option(False, "--deep", help="Also import TensorFlow in the env (up to 300 s) and read "
                              "its errors."),
    fix: bool = typer.Option(False, "--fix", help="Apply the repair plan (the env is kept exactly as it was if "
                             "the repaired env fails verification)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Repair without asking."),
    host_file: Optional[Path] = HOST_FILE_OPT,
    recipes_file: Optional[Path] = RECIPES_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Find what is wrong with an existing TensorFlow env; show (or with --fix apply) the repair."""
    from tfsetup.render import render_findings

    show = None if json_out else (lambda findings, repair, env: render_findings(findings, repair, env, fix))
    _run(json_out, "doctor", lambda command: command.run(path, deep, fix, yes, recipes_file, err, show, host_file))


@app.command(short_help="Prove a macOS or Linux env loads, from its binaries (any OS).")
def prove(
    pins: List[str] = typer.Argument(None, metavar="[PIN...]", show_default=False,
                                     help="Exact pins to prove without their dependencies, e.g. "
                                     "tensorflow==2.20.0 tensorflow-metal==1.2.0 (needs --platform, --python)."),
    platform: Optional[str] = typer.Option(None, "--platform", metavar="PLATFORM",
                                           help="With PINs: macos-arm64, macos-x86_64, linux-x86_64 or "
                                           "linux-aarch64. With --env: instead of the platform its files say."),
    macos: Optional[str] = typer.Option(None, "--macos", metavar="X.Y",
                                        help="Judge minimum macOS against this version (default: the host's, "
                                        "else the recipe's min_os)."),
    glibc: Optional[str] = typer.Option(None, "--glibc", metavar="X.Y",
                                        help="Linux: judge GLIBC_ symbol versions against this glibc (default: the "
                                        "recipe's min_glibc, else the host's)."),
    env: Optional[Path] = typer.Option(None, "--env", metavar="PATH", help="Prove an env already on disk, as the "
                                       "platform its files say (wheel tags, interpreter, binaries).",
                                       file_okay=False),
    host_file: Optional[Path] = HOST_FILE_OPT,
    tf: Optional[str] = TF_OPT,
    python: Optional[str] = PY_OPT,
    recipe: Optional[str] = RECIPE_OPT,
    cpu_only: bool = CPU_OPT,
    accelerator: Optional[str] = ACCEL_OPT,
    pre: bool = PRE_OPT,
    find_links: List[str] = typer.Option([], "--find-links", metavar="DIR|URL",
                                         help="Also take wheels from this directory or URL; repeatable."),
    offline: bool = typer.Option(False, "--offline", help="No network: the uv cache or --find-links only."),
    no_project: bool = NO_PROJECT_OPT,
    recipes_file: Optional[Path] = RECIPES_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Prove, without a Mac, that a macOS env loads: every binary's arch and minimum macOS, every
    library and symbol it binds, and the Metal plug-in inside TensorFlow's process (static dyld model).
    For Linux: every ELF file's machine, every DT_NEEDED (RUNPATH $ORIGIN, the env, the manylinux
    allow-list) and its GLIBC_ versions against --glibc or the recipe's min_glibc.

    Subjects: the lock `install` would install for this host or --host-file; exact PINs with
    --platform and --python; or --env PATH. Exit 0 loads, 1 problems, 2 bad input, 4 cannot fetch.
    """

    def body() -> int:
        from tfsetup import validate
        from tfsetup.commands import prove as command

        validate.find_links(find_links)
        validate.env_path(env, "--env")
        validate.input_file(host_file, "--host-file")
        from tfsetup.output import tty_progress

        flags = _flags(tf, python, cpu_only, accelerator, recipe, pre, find_links=tuple(find_links), offline=offline)
        with tty_progress(json_out) as progress:  # a cold cache: 20-35 s of fetching, then reading the files
            result = command.run(list(pins or []), platform, macos, env, flags, no_project, host_file, recipes_file,
                                 glibc=glibc, progress=progress)
        _show(json_out, result.to_json(), lambda render: render.render_prove(result))
        return 0 if result.loads else 1

    run_command(json_out, body)


@app.command(short_help="Name the known problems in an error log.")
def explain(
    file: Optional[str] = typer.Argument(None, metavar="[FILE|-]",
                                         help="The error log or traceback; '-' or nothing reads stdin."),
    recipes_file: Optional[Path] = RECIPES_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Name the known problems in an error log or traceback, with fixes.

    Exit 0 when at least one known problem was identified, 1 when nothing matched
    ("no known problem matched"), 2 when the input cannot be read.
    """
    _run(json_out, "explain", lambda command: command.run(file, recipes_file))


@app.command(short_help="Lock the team's stack for every platform.")
def lock(
    platform: List[str] = PLATFORM_OPT,
    python: List[str] = PYTHONS_OPT,
    check: bool = typer.Option(False, "--check", help="Only check: exit 1 when tfsetup.lock (or a pylock file "
                               "beside it) is stale against the config (no network)."),
    fmt: str = typer.Option("tfsetup", "--format", metavar="FORMAT",
                            help="tfsetup (tfsetup.lock) or pylock: also write PEP 751 pylock.<platform>-py<XY>.toml "
                                 "files, one per section, that `uv pip install -r` and other tools read."),
    recipe: Optional[str] = typer.Option(None, "--recipe", metavar="ID",
                                         help="With --format pylock: export this recipe's own locks (one "
                                              "pylock.<ID>-py<XY>.toml per Python, here; no project needed)."),
    recipes_file: Optional[Path] = RECIPES_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Resolve the project's stack for every team platform into one hash-pinned tfsetup.lock."""
    from tfsetup.render import progress_lines

    _run(json_out, "lock", lambda command: command.run(platform, python, check, recipes_file,
                                                       progress_lines(json_out), fmt, recipe))


@app.command(short_help="Download a lock's wheels for offline installs.")
def wheelhouse(
    directory: Path = typer.Argument(..., help="Where the wheels go (created if missing)."),
    platform: List[str] = PLATFORM_OPT,
    python: List[str] = PYTHONS_OPT,
    tf: Optional[str] = TF_OPT,
    cpu_only: bool = CPU_OPT,
    index_url: Optional[str] = typer.Option(None, "--index-url", metavar="URL",
                                            help="Download from this index (default PyPI)."),
    no_project: bool = NO_PROJECT_OPT,
    recipes_file: Optional[Path] = RECIPES_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Download every wheel a lock needs into DIR, for `install --offline --find-links DIR` or an index server.

    In a project with a tfsetup.lock: its sections (filtered by --platform/--python). Elsewhere: the
    recipe lock for each --platform and --python (default: this host's platform).
    """
    from tfsetup.render import progress_lines

    _run(json_out, "wheelhouse", lambda command: command.run(directory, platform, python, tf, cpu_only, index_url,
                                                             no_project, recipes_file, progress_lines(json_out)))


@app.command(short_help="Fleet inventory: host, envs, findings.")
def report(
    paths: List[Path] = typer.Argument(None, metavar="[PATH]...",
                                       help="Envs to include besides those tfsetup installed."),
    recipes_file: Optional[Path] = RECIPES_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """One document for fleet inventory: host facts, the envs tfsetup manages, and doctor findings."""
    _run(json_out, "report", lambda command: command.run(list(paths or []), recipes_file))


@app.command(short_help="Add packages without moving the verified stack.")
def add(
    packages: List[str] = typer.Argument(..., metavar="PKG... [ENV]", help="Packages to add, e.g. pandas jupyter "
                                         "'transformers>=4.40'; then, optionally, the env: a path (./env, "
                                         "~/envs/tf) or a directory that is a tfsetup env."),
    env: Optional[Path] = typer.Option(None, "--env", metavar="PATH", help="The tfsetup env (default: the "
                                       "project's env, $VIRTUAL_ENV, ./.venv or $CONDA_PREFIX); with it, every "
                                       "argument is a package."),
    json_out: bool = JSON_OPT,
) -> None:
    """Add packages to a tfsetup env without moving its verified stack (TensorFlow, NumPy, Keras ...).

    Resolved against the env's lock first: a package that would move a locked version is refused with
    the reason and the nearest version that fits (exit 4, nothing changed). Otherwise installed
    hash-pinned, quick-verified and recorded; a failure puts the env back exactly (exit 4).
    """
    from tfsetup.render import indented

    _run(json_out, "add", lambda command: command.run(packages, env, indented))


@app.command(short_help="Move an env to the newest recipe, with your packages.")
def upgrade(
    path: Optional[Path] = typer.Argument(None, metavar="[PATH]", show_default=False,
                                          help="The tfsetup env (default: as for `verify`)."),
    tf: Optional[str] = TF_OPT,
    yes: bool = typer.Option(False, "--yes", "-y", help="Upgrade without asking."),
    recipes_file: Optional[Path] = RECIPES_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Move a tfsetup env to the newest (or --tf) recipe for this host, carrying your added packages.

    The new env is built beside PATH, gets your packages (resolved against the new lock; the ones
    that cannot follow are listed with the reason), is verified, then swapped in. Until then PATH is
    untouched; a failure exits 4 with the old env exactly as it was.
    """
    from tfsetup import render

    _run(json_out, "upgrade", lambda command: command.run(
        path, tf, recipes_file, yes, render.indented, render.stage_progress(json_out),
        show=None if json_out else render.render_upgrade_plan))


@app.command("list", short_help="The envs tfsetup made on this machine.")
def list_envs(
    prune: bool = typer.Option(False, "--prune", help="Forget the envs that no longer exist."),
    json_out: bool = JSON_OPT,
) -> None:
    """The envs tfsetup made on this machine: path, recipe, TF, when verified, status
    (ok / not-verified / broken / missing)."""
    _run(json_out, "list", lambda command: command.run(prune))


@app.command(short_help="Delete an env tfsetup made.")
def remove(
    path: Path = typer.Argument(..., metavar="PATH", help="The tfsetup env to delete."),
    forget: bool = typer.Option(False, "--forget", help="Only drop PATH from `tfsetup list` (e.g. an env "
                                "deleted by hand); delete nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Remove without asking."),
    json_out: bool = JSON_OPT,
) -> None:
    """Delete an env tfsetup made (it has a tfsetup-env.json) and forget it; refuses anything else."""
    _run(json_out, "remove", lambda command: command.run(path, forget, yes))


def main() -> None:
    from tfsetup.commands._finish import run_process

    run_process(app)


if __name__ == "__main__":
    main()
