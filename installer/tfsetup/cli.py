"""The typer app: one small function per command, argument handling only.

Heavy modules are imported inside the commands so `tfsetup detect` and `plan` start fast.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable, List, Optional

import typer

from tfsetup import __version__
from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError
from tfsetup.output import emit_json, err

app = typer.Typer(
    add_completion=False,
    rich_markup_mode=None,  # help texts contain [tool.tfsetup], which is not markup
    no_args_is_help=True,
    help="Get a verified TensorFlow environment with one command, and repair broken ones.",
    context_settings={"help_option_names": ["-h", "--help"]},
)

JSON_OPT = typer.Option(False, "--json", help="Print exactly one JSON document on stdout.")
RECIPES_OPT = typer.Option(None, "--recipes-file", metavar="FILE",
                           help="Use this recipes table instead of the bundled one.",
                           dir_okay=False)
HOST_FILE_OPT = typer.Option(None, "--host-file", metavar="FILE", help="Use the host described by this facts JSON "
                             "(from `tfsetup detect --json` on that machine; - reads stdin).", dir_okay=False)


def _version_callback(value: bool) -> None:
    if value:
        print(f"tfsetup {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True,
                                       help="Show the version and exit.")) -> None:
    """tfsetup: detect -> plan -> stage -> install -> verify -> promote."""


def run_command(json_out: bool, body: Callable[[], int]) -> None:
    """Run a command body; turn known failures into one clear message and the right exit code."""
    from tfsetup.plan import PlanError
    from tfsetup.recipes import RecipeError
    from tfsetup.host.facts import FactsError

    try:
        code = body()
    except PlanError as exc:
        _fail(json_out, exc.to_json(), exc.message + (f"\n  fix: {exc.fix}" if exc.fix else ""), exc.exit_code,
              [f"  {r.recipe}: {'; '.join(r.reasons)}" for r in exc.rejected])
    except TfsetupError as exc:
        _fail(json_out, exc.to_json(), exc.message + (f"\n  fix: {exc.fix}" if exc.fix else ""), exc.exit_code)
    except (RecipeError, FactsError) as exc:
        _fail(json_out, {"error": str(exc), "exit_code": EXIT_BAD_INPUT}, str(exc), EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        import signal

        for name in ("SIGINT", "SIGTERM", "SIGHUP"):  # leaving now: another Ctrl-C must not print a traceback
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), signal.SIG_IGN)
        _fail(json_out, {"error": "interrupted", "exit_code": 130}, "interrupted", 130)
    raise typer.Exit(code)


def _fail(json_out: bool, doc: dict, message: str, code: int, extra: Optional[List[str]] = None) -> None:
    if json_out:
        emit_json(doc)
    err(f"tfsetup: error: {message}")
    if extra and not json_out:
        err("rejected:")
        for line in extra:
            err(line)
    raise typer.Exit(code)


def _load_host(host_file: Optional[Path]):
    if host_file is not None:
        from tfsetup.host.facts import FactsError, load_facts_file

        try:
            return load_facts_file(str(host_file))
        except FactsError:
            raise
        except (ValueError, TypeError) as exc:  # not UTF-8, or a wrong type deep inside (cpu_cores)
            raise FactsError(f"{host_file}: not a valid host-facts file: {exc}") from None
    from tfsetup.host.detect import detect_host

    return detect_host()


def _load_table(recipes_file: Optional[Path]):
    from tfsetup.recipes import load_recipes

    return load_recipes(recipes_file)


@app.command()
def detect(json_out: bool = JSON_OPT) -> None:
    """Show this machine's facts: OS, chip, Rosetta, GPUs and the Python interpreters found."""

    def body() -> int:
        facts = _load_host(None)
        if json_out:
            emit_json(facts.to_json())
        else:
            from tfsetup.render import render_facts

            render_facts(facts)
        return 0

    run_command(json_out, body)


@app.command()
def recipes(
    show_all: bool = typer.Option(False, "--all", help="Show every platform's rows, not only this host's."),
    host_file: Optional[Path] = HOST_FILE_OPT,
    recipes_file: Optional[Path] = RECIPES_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """List the recipes table, marking which rows fit this host and why the others do not."""

    def body() -> int:
        from tfsetup.plan import choose_interpreter, host_reasons, PlanRequest
        from tfsetup.render import render_recipes

        table = _load_table(recipes_file)
        facts = _load_host(host_file)
        rows = []
        for recipe in table.recipes:
            if not show_all and recipe.platform != facts.platform:
                continue
            reasons = host_reasons(recipe, facts)
            if not reasons:
                _, reasons = choose_interpreter(recipe, facts, PlanRequest(pre=True))
            rows.append((recipe, reasons))
        if json_out:
            emit_json({"host": facts.platform, "recipes": [
                {"id": r.id, "platform": r.platform, "accelerator": r.accelerator,
                 "distribution": r.distribution, "tensorflow": r.tensorflow,
                 "plugin": f"{r.plugin}=={r.plugin_version}" if r.plugin else None,
                 "pythons": list(r.pythons), "default": r.default, "status": r.status,
                 "summary": r.summary, "sources": list(r.sources),
                 "locks": sorted(r.locks), "fits": not reasons, "reasons": reasons}
                for r, reasons in rows]})
        else:
            render_recipes(rows, facts)
        return 0

    run_command(json_out, body)


def _flags(tf: Optional[str], python: Optional[str], cpu_only: bool, accelerator: Optional[str],
           recipe: Optional[str], pre: bool, **more):
    from tfsetup.team.project import Flags

    if cpu_only and accelerator and accelerator != "cpu":
        raise TfsetupError(f"--cpu-only contradicts --accelerator {accelerator}", EXIT_BAD_INPUT)
    return Flags(tf=tf, python=python, cpu_only=cpu_only, accelerator=accelerator, recipe=recipe, pre=pre, **more)


def _project(no_project: bool):
    """The project config found from the current directory upwards (None outside a project)."""
    if no_project:
        return None
    from tfsetup.team.config import load_project

    return load_project(Path.cwd())


def _env_or_default(path: Optional[Path]) -> Path:
    """PATH, or the env a command means without one (the order `install` uses for its target)."""
    if path is not None:
        return path
    from tfsetup.envpaths import default_env, own_env_with_tf

    config = _project(False)
    found = default_env(os.environ, Path.cwd(), config.env_path() if config else None, own_env_with_tf())
    if found is None:
        raise TfsetupError("no environment found: no project env, no active venv, no ./.venv, no active conda env",
                           EXIT_BAD_INPUT, fix="give its PATH, or make one with `tfsetup install`")
    return found


def _sections(count: int) -> str:
    return f"{count} section" + ("" if count == 1 else "s")


def _say_project(record: dict) -> None:
    project = record.get("project")
    if project:
        source = project["config"] + (f" and {project['lock']} [{project['section']}]" if "lock" in project else "")
        err(f"using {source} (--no-project ignores it)")


def _project_plan(flags, no_project: bool, facts, recipes_file: Optional[Path]):
    """(plan, settings, record additions): flags over the project config, and its team lock if any."""
    from tfsetup.team.project import merge, plan_for_project

    settings = merge(flags, _project(no_project))
    chosen, record = plan_for_project(settings, facts, _load_table(recipes_file))
    return chosen, settings, record


TF_OPT = typer.Option(None, "--tf", metavar="X.Y", help="TensorFlow version, e.g. 2.19 or 2.19.1.")
PY_OPT = typer.Option(None, "--python", metavar="X.Y", help="Python minor version, e.g. 3.12.")
CPU_OPT = typer.Option(False, "--cpu-only", help="Plain CPU TensorFlow even when a GPU is present.")
ACCEL_OPT = typer.Option(None, "--accelerator", metavar="metal|cuda|cpu", help="Insist on this accelerator.")
RECIPE_OPT = typer.Option(None, "--recipe", metavar="ID", help="Use this recipe id (see `tfsetup recipes`).")
PRE_OPT = typer.Option(False, "--pre", help="Allow pre-release recipes and interpreters.")
NO_PROJECT_OPT = typer.Option(False, "--no-project", help="Ignore tfsetup.toml / [tool.tfsetup] and tfsetup.lock.")
PLATFORM_OPT = typer.Option([], "--platform", metavar="PLATFORM",
                            help="Team platform: macos-arm64, macos-arm64-cpu, macos-x86_64, "
                            "linux-x86_64, linux-x86_64-cuda, linux-aarch64, windows-x86_64 (repeatable).")
PYTHONS_OPT = typer.Option([], "--python", metavar="X.Y", help="Python minor version, e.g. 3.11 (repeatable).")


@app.command()
def plan(
    host_file: Optional[Path] = HOST_FILE_OPT,
    tf: Optional[str] = TF_OPT,
    python: Optional[str] = PY_OPT,
    cpu_only: bool = CPU_OPT,
    accelerator: Optional[str] = ACCEL_OPT,
    recipe: Optional[str] = RECIPE_OPT,
    pre: bool = PRE_OPT,
    no_project: bool = NO_PROJECT_OPT,
    recipes_file: Optional[Path] = RECIPES_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Choose the recipe and interpreter for this host (or --host-file) and say why; installs nothing."""

    def body() -> int:
        from tfsetup.render import render_plan

        flags = _flags(tf, python, cpu_only, accelerator, recipe, pre)
        chosen, _settings, record = _project_plan(flags, no_project, _load_host(host_file), recipes_file)
        if json_out:
            emit_json(dict(chosen.to_json(), **record))  # "project": where the settings came from
        else:
            _say_project(record)
            render_plan(chosen, record.get("project"))
        return 0

    run_command(json_out, body)


def _progress(json_out: bool):
    """Stage lines on stderr. On a terminal each stage also shows a spinner while it runs; when
    stderr is captured (CI, scripts, tests) it stays plain lines, which tools can watch."""
    labels = {"venv": "creating the venv", "install": "installing the locked packages",
              "verify": "verifying inside the new env", "promote": "moving the env into place"}
    started = {}
    spinners = {}
    tty = sys.stderr.isatty() and not json_out

    def report(stage: str, event: str) -> None:
        import time

        label = labels.get(stage, stage)
        if event == "start":
            started[stage] = time.perf_counter()
            err(f"-> {label} ...")
            if tty:
                from rich.console import Console

                spinners[stage] = Console(stderr=True).status(f"{label} ...")
                spinners[stage].start()
        elif event == "done":
            if stage in spinners:
                spinners.pop(stage).stop()
            err(f"   done in {time.perf_counter() - started.get(stage, time.perf_counter()):.1f}s")
        else:
            err(f"   {event}")

    return report


def _confirm(yes: bool):
    if yes:
        return lambda question: True
    if not sys.stdin.isatty():
        return None
    return lambda question: typer.confirm(question, default=False, err=True)


@app.command()
def install(
    path: Optional[Path] = typer.Argument(None, metavar="[PATH]", show_default=False,
                                          help="Where the env goes (default: the project's 'env', else ./.venv)."),
    tf: Optional[str] = TF_OPT,
    python: Optional[str] = PY_OPT,
    recipe: Optional[str] = RECIPE_OPT,
    cpu_only: bool = CPU_OPT,
    accelerator: Optional[str] = ACCEL_OPT,
    pre: bool = PRE_OPT,
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
    no_project: bool = NO_PROJECT_OPT,
    recipes_file: Optional[Path] = RECIPES_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Plan, build a venv from the recipe's hash-pinned lock, verify it, then put it at PATH.

    In a project (tfsetup.toml or [tool.tfsetup] from here upwards) its settings apply under these
    flags, and with a tfsetup.lock exactly this host's section of it is installed.
    """

    def body() -> int:
        from tfsetup.install import InstallOptions, run_install
        from tfsetup.team.report import register_env

        if backend not in ("uv", "pip"):
            raise TfsetupError(f"unknown backend {backend!r}; choose uv or pip")
        if index_url is not None:
            _check_url(index_url, "--index-url")
        flags = _flags(tf, python, cpu_only, accelerator, recipe, pre, path=path, index_url=index_url,
                       find_links=tuple(find_links), offline=offline)
        facts = _load_host(None)
        chosen, settings, record = _project_plan(flags, no_project, facts, recipes_file)
        if not json_out:
            from tfsetup.render import render_plan

            _say_project(record)
            render_plan(chosen, record.get("project"))
        opts = InstallOptions(target=settings.target, backend=backend, force=force, verify=not no_verify,
                              confirm=_confirm(yes), source=settings.source, extra_record=record,
                              lock_path=Path(chosen.lock.path))
        result = run_install(chosen, facts, opts, _progress(json_out))
        register_env(result.target)
        if json_out:
            emit_json(result.to_json())
        else:
            from tfsetup.render import render_install

            render_install(result)
        return 0

    run_command(json_out, body)


def _check_url(url: str, option: str) -> None:
    import re

    if not re.match(r"^(https?|file)://\S+$", url):
        raise TfsetupError(f"{option} {url!r} is not an http(s):// or file:// URL", EXIT_BAD_INPUT)


@app.command()
def verify(
    path: Optional[Path] = typer.Argument(None, metavar="[PATH]", help="The env to verify (default: the project's env, "
                                          "$VIRTUAL_ENV, ./.venv or $CONDA_PREFIX).", show_default=False),
    benchmark: bool = typer.Option(False, "--benchmark", help="Also measure GPU vs CPU throughput."),
    timeout: float = typer.Option(600, "--timeout", metavar="SECONDS", help="Seconds before the probe is stopped."),
    json_out: bool = JSON_OPT,
) -> None:
    """Run the verification suite inside an existing env (exit 1 when a check fails)."""

    def body() -> int:
        from tfsetup.verify import verify_existing

        if timeout <= 0:
            raise TfsetupError(f"--timeout must be a positive number of seconds, not {timeout:g}", EXIT_BAD_INPUT)
        env = _env_or_default(path)
        result = verify_existing(env, benchmark=benchmark, timeout=timeout)
        if json_out:
            emit_json(result.to_json())
        else:
            from tfsetup.render import render_checks

            render_checks([c.to_json() for c in result.checks], f"Verification of {env}")
        if not result.ok:
            import shlex

            failed = ", ".join(c.id for c in result.checks if c.status == "fail") or "the probe"
            err(f"tfsetup: verification failed ({failed})\n  fix: `tfsetup doctor {shlex.quote(str(env))}` "
                "says what is wrong; `--fix` repairs it")
        return 0 if result.ok else 1

    run_command(json_out, body)


@app.command()
def doctor(
    path: Optional[Path] = typer.Argument(None, metavar="[PATH]",
                                          help="The env to check (default: the project's env, $VIRTUAL_ENV, "
                                          "./.venv, $CONDA_PREFIX, or this Python's env if it has TensorFlow).",
                                          show_default=False),
    deep: bool = typer.Option(False, "--deep", help="Also import TensorFlow in the env (up to 300 s) and read "
                              "its errors."),
    fix: bool = typer.Option(False, "--fix", help="Apply the repair plan (a backup is taken; the env is "
                             "restored if the repaired env fails verification)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Repair without asking."),
    recipes_file: Optional[Path] = RECIPES_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Find what is wrong with an existing TensorFlow env; show (or with --fix apply) the repair."""

    def body() -> int:
        from tfsetup.doctor.repair import render_findings, render_result, run_doctor

        def confirm(repair) -> bool:
            if yes:
                return True
            if not sys.stdin.isatty():
                raise TfsetupError("--fix needs confirmation and stdin is not a terminal", EXIT_BAD_INPUT,
                                   fix="pass --yes to repair without asking")
            return typer.confirm("Apply this repair plan?", default=False, err=True)

        show = None if json_out else (lambda findings, repair, env: render_findings(findings, repair, env, fix))
        outcome = run_doctor(_env_or_default(path), deep, fix, confirm, recipes_file, err, show)
        if json_out:
            emit_json(outcome.doc)
        else:
            render_result(outcome)
        if outcome.doc.get("error"):  # a failed repair is an error like any other: one line on stderr
            err(f"tfsetup: error: repair failed: {outcome.doc['error']}")
        return outcome.exit_code

    run_command(json_out, body)


@app.command()
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

    def body() -> int:
        from tfsetup.doctor.explain import explain as explain_text

        if file in (None, "-"):
            if file is None and sys.stdin.isatty():
                raise TfsetupError("give a log FILE, or pipe the text in: `tfsetup explain - < error.log`",
                                   EXIT_BAD_INPUT)
            if sys.stdin.isatty():  # `tfsetup explain -` typed at a prompt
                err("paste the log, then press Ctrl-D on a line of its own")
            data = sys.stdin.buffer.read()
        else:
            try:
                data = Path(file).read_bytes()
            except OSError as exc:
                raise TfsetupError(f"cannot read {file}: {exc.strerror or exc}", EXIT_BAD_INPUT) from None
        findings = explain_text(data.decode("utf-8", errors="replace"), _load_table(recipes_file))
        if json_out:
            emit_json({"findings": [f.to_json() for f in findings]})
        if not findings:
            err("no known problem matched")
            return 1
        if not json_out:
            from rich.markup import escape

            from tfsetup.output import console

            con = console()
            colors = {"error": "red", "warning": "yellow", "info": "blue"}
            for f in findings:
                con.print(f"[bold {colors.get(f.severity, 'white')}]{f.severity}[/] [bold]{escape(f.id)}[/]")
                con.print(f"  {escape(f.message)}")
                con.print(f"  [green]fix:[/] {escape(f.fix)}")
                for line in f.evidence:
                    con.print(f"  [dim]> {escape(line)}[/]")
                for url in f.sources[:2]:
                    con.print(f"  [dim]see {escape(url)}[/]")
        return 0

    run_command(json_out, body)


@app.command()
def lock(
    platform: List[str] = PLATFORM_OPT,
    python: List[str] = PYTHONS_OPT,
    check: bool = typer.Option(False, "--check", help="Only check: exit 1 when tfsetup.lock is stale against the "
                               "config (no network)."),
    recipes_file: Optional[Path] = RECIPES_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Resolve the project's stack for every team platform into one hash-pinned tfsetup.lock."""

    def body() -> int:
        from tfsetup.plan import check_python_request
        from tfsetup.team.lockfile import read_team_lock, render_lock, resolve_sections, section_specs, stale_reasons
        from tfsetup.team.project import lock_platform_for

        config = _project(False)
        if config is None:
            raise TfsetupError("no project here: no tfsetup.toml or pyproject.toml with [tool.tfsetup] in this "
                               "directory or above", EXIT_BAD_INPUT,
                               fix="create tfsetup.toml (see README, 'For teams')")
        table = _load_table(recipes_file)
        platforms = list(platform) or list(config.platforms) or [lock_platform_for(_load_host(None))]
        for value in python:
            check_python_request(value)
        pythons = list(python) or ([config.python] if config.python else [])
        specs = section_specs(table, config, platforms, pythons, config.extra_requirements())
        sections = [{"platform": s.platform, "python": s.python, "recipe": s.recipe.id} for s in specs]
        if check:
            if not config.lock_path.is_file():
                reasons = [f"{config.lock_path.name} does not exist"]
            else:
                reasons = stale_reasons(read_team_lock(config.lock_path), config, specs)
            if json_out:
                emit_json({"lock": str(config.lock_path), "up_to_date": not reasons, "reasons": reasons,
                           "sections": sections})
            for reason in reasons:
                err(f"stale: {reason}")
            if not reasons:
                err(f"{config.lock_path.name} is up to date ({_sections(len(specs))})")
            return 1 if reasons else 0
        err(f"resolving {len(specs)} section(s): " + ", ".join(f"{s.platform} py{s.python}" for s in specs))
        texts = resolve_sections(config, specs, progress=None if json_out else lambda m: err(f"   {m}"))
        content = render_lock(config, specs, texts)
        tmp = config.lock_path.with_name(f".{config.lock_path.name}.tmp")
        try:
            tmp.write_text(content, encoding="utf-8")
            tmp.replace(config.lock_path)
        except OSError as exc:
            if tmp.exists():
                tmp.unlink()
            raise TfsetupError(f"cannot write {config.lock_path}: {exc.strerror or exc}", EXIT_BAD_INPUT) from None
        if json_out:
            emit_json({"lock": str(config.lock_path), "sections": sections})
        else:
            print(f"wrote {config.lock_path} ({_sections(len(specs))})")
        return 0

    run_command(json_out, body)


@app.command()
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

    def body() -> int:
        from tfsetup.plan import check_python_request
        from tfsetup.team.wheelhouse import build_wheelhouse

        if index_url is not None:
            _check_url(index_url, "--index-url")
        for value in python:
            check_python_request(value)
        locks = _wheelhouse_locks(platform, python, tf, cpu_only, no_project, recipes_file)
        summary = build_wheelhouse(locks, directory, index_url, None if json_out else lambda m: err(f"   {m}"))
        if json_out:
            emit_json(summary)
        else:
            import shlex

            pythons = {lock.python for lock in locks}
            pin = f" --python {pythons.pop()}" if len(pythons) == 1 else ""  # the Python the wheels are for
            print(f"{len(summary['wheels'])} wheels in {directory} ({summary['downloaded']} downloaded); install "
                  f"with: tfsetup install --offline --find-links {shlex.quote(str(directory))}{pin}")
        return 0

    run_command(json_out, body)


def _wheelhouse_locks(platform: List[str], python: List[str], tf: Optional[str], cpu_only: bool,
                      no_project: bool, recipes_file: Optional[Path]):
    from tfsetup.team.project import lock_platform_for, wheelhouse_locks

    platforms = list(platform) or [lock_platform_for(_load_host(None))]
    return wheelhouse_locks(_project(no_project), _load_table(recipes_file), platforms, list(python),
                            explicit=bool(platform), tf=tf, cpu_only=cpu_only)


@app.command()
def report(
    paths: List[Path] = typer.Argument(None, metavar="[PATH]...",
                                       help="Envs to include besides those tfsetup installed."),
    recipes_file: Optional[Path] = RECIPES_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """One document for fleet inventory: host facts, the envs tfsetup manages, and doctor findings."""

    def body() -> int:
        import datetime

        from tfsetup.envpaths import check_env_dir
        from tfsetup.team.report import build_report

        extra = [Path(os.path.abspath(p)) for p in paths or []]
        for named in extra:  # a PATH the user typed must exist; registered envs that vanished are reported
            check_env_dir(named)
        config = _project(False)
        if config is not None and config.env_path().is_dir():
            extra.append(config.env_path())
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        doc = build_report(extra, _load_host(None), _load_table(recipes_file), now)
        if json_out:
            emit_json(doc)
        else:
            from tfsetup.output import console

            out = console()
            out.print(f"{doc['host']['os']} {doc['host']['os_version']} {doc['host']['machine']}: "
                      f"{doc['summary']['envs']} env(s), {doc['summary']['errors']} error finding(s)")
            for env in doc["envs"]:
                state = "missing" if not env["exists"] else (
                    ", ".join(f["id"] for f in env.get("findings", []) if f.get("severity") == "error") or "ok")
                made = env.get("recipe") or ("made by tfsetup" if env.get("registered") else "not made by tfsetup")
                out.print(f"  {env['path']}: {made} — {state}")
        return 0

    run_command(json_out, body)


def main() -> None:
    try:  # typer >= 0.24 vendors click; older ones (on Python 3.9) depend on it
        from typer._click import exceptions as click_errors
    except ImportError:
        from click import exceptions as click_errors
    no_args = getattr(click_errors, "NoArgsIsHelpError", ())  # click >= 8.2

    try:
        code = app(standalone_mode=False)
    except no_args as exc:  # bare `tfsetup`: the help, as before
        print(exc.format_message())
        code = 0
    except click_errors.UsageError as exc:  # unknown option, missing argument, bad value: one line, exit 2
        code = _usage_error(exc)
    except click_errors.ClickException as exc:
        err(f"tfsetup: error: {exc.format_message()}")
        code = exc.exit_code
    except typer.Abort:  # EOF at a prompt
        err("tfsetup: error: interrupted")
        code = 130
    except BrokenPipeError:  # `tfsetup detect --json | head` is fine
        code = 0
    sys.exit(code if isinstance(code, int) else 0)


def _usage_error(exc) -> int:
    """Like every other error: one `tfsetup: error:` line (and with --json one document on stdout)."""
    command = exc.ctx.command_path if exc.ctx is not None else "tfsetup"
    message = exc.format_message().replace("\n", " ")
    if "--json" in sys.argv[1:]:
        emit_json({"error": message, "exit_code": EXIT_BAD_INPUT})
    err(f"tfsetup: error: {message} (see `{command} --help`)")
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    main()
