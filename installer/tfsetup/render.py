"""Human reports (rich, on stdout). Only presentation lives here."""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from tfsetup.host.facts import HostFacts
from tfsetup.output import console

STATUS_STYLE = {"pass": "green", "warn": "yellow", "fail": "red", "skip": "dim"}


def render_facts(facts: HostFacts) -> None:
    from rich.table import Table

    out = console()
    arch = facts.machine + (" (this process runs translated by Rosetta)" if facts.rosetta else "")
    out.print(f"[bold]{facts.os} {facts.os_version}[/] on {arch}")
    out.print(f"CPU: {facts.cpu or 'unknown'}"
              + (f"   flags: {' '.join(facts.cpu_flags)}" if facts.cpu_flags else ""))
    if facts.glibc:
        out.print(f"glibc: {facts.glibc}")
    for gpu in facts.gpus:
        extra = ", ".join(x for x in (f"{gpu.cores} cores" if gpu.cores else "",
                                       f"driver {gpu.driver}" if gpu.driver else "",
                                       f"{gpu.memory_mib} MiB" if gpu.memory_mib else "",
                                       f"compute {gpu.compute_capability}" if gpu.compute_capability else "") if x)
        out.print(f"GPU: {gpu.name} ({gpu.vendor}{', ' + extra if extra else ''})")
    if not facts.gpus:
        out.print("GPU: none usable by TensorFlow found")
    table = Table(title="Python interpreters", title_justify="left")
    for col in ("version", "archs", "source", "executable"):
        table.add_column(col)
    for py in sorted(facts.pythons, key=lambda p: _version_key(p.version), reverse=True):
        table.add_row(py.version + (" (free-threaded)" if py.free_threaded else ""), " ".join(py.archs),
                      py.source, py.executable)
    out.print(table)
    for skipped in facts.skipped_pythons:
        out.print(f"[dim]skipped {skipped.get('executable')}: {skipped.get('reason')}[/]")


def _version_key(version: str) -> Tuple[int, ...]:
    """3.10 after 3.9, whatever the suffix ("3.13.0t", "3.14.0rc1")."""
    import re

    return tuple(int(n) for n in re.findall(r"\d+", version)[:3])


def render_recipes(rows: Sequence[Tuple[object, List[str]]], facts: HostFacts) -> None:
    from rich.table import Table

    table = Table(title=f"Recipes (this host: {facts.platform})", title_justify="left")
    for col in ("id", "accel", "TensorFlow", "plug-in", "Pythons", "status", "fits this host?"):
        table.add_column(col, overflow="fold", no_wrap=col == "id")  # ids are copied into --recipe
    for recipe, reasons in rows:
        plugin = f"{recipe.plugin} {recipe.plugin_version}" if recipe.plugin else ""
        status = recipe.status.replace("prerelease", "pre-release") + (" (default)" if recipe.default else "")
        fits = "[green]yes[/]" if not reasons else f"[red]no[/]: {reasons[0]}"
        table.add_row(recipe.id, recipe.accelerator, f"{recipe.distribution} {recipe.tensorflow}", plugin,
                      ", ".join(recipe.pythons), status, fits)
    console().print(table)


def render_plan(plan, project: Optional[dict] = None) -> None:
    """The plan on stdout; in a project with a tfsetup.lock, its section is what gets installed."""
    from rich.markup import escape

    out = console()
    section = (project or {}).get("section")
    recipe = plan.recipe
    pkgs = ", ".join(f"{k} {v}" for k, v in plan.packages.items())
    out.print(f"[bold]recipe[/]  {recipe.id} ({recipe.accelerator})")
    out.print(f"[bold]stack[/]   {pkgs}")
    out.print(f"[bold]python[/]  {plan.python.version} {escape(plan.python.executable)}"
              + (f"  (launched as: {' '.join(plan.launch)})" if len(plan.launch) > 1 else ""))
    where = f"tfsetup.lock [{section}]" if section else recipe.lock_relpath(plan.python.minor)
    out.print(f"[bold]lock[/]    {escape(where)} ({len(plan.lock.pins)} packages, hashes)")
    for warning in plan.warnings:
        out.print(f"[yellow]warning:[/] {escape(warning)}")
    if plan.rejected and not section:  # with a team lock the section decided, not the table
        out.print("[dim]not chosen:[/]")
        for rej in plan.rejected:
            out.print(f"[dim]  {rej.recipe}: {escape('; '.join(rej.reasons))}[/]")


def render_checks(checks: Sequence[dict], title: str) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col in ("check", "status", "detail"):
        table.add_column(col, overflow="fold")
    for check in checks:
        style = STATUS_STYLE.get(check["status"], "")
        table.add_row(check["id"], f"[{style}]{check['status']}[/]", check.get("message", ""))
    console().print(table)


def render_install(result) -> None:
    out = console()
    if result.unchanged:
        out.print(f"[green bold]up to date[/] {result.target} already holds {result.plan.recipe.id} "
                  f"(verified {result.record.get('verified_at') or ''}); --force rebuilds it")
        from tfsetup.install import activate_hint

        out.print(f"activate it with:  {activate_hint(result.target)}")
        return
    if result.verification is not None:
        render_checks([c.to_json() for c in result.verification.checks], "Verification")
    total = sum(result.timings.values())
    out.print(f"[green bold]ready[/] {result.target} ({result.plan.recipe.id}, "
              f"{', '.join(f'{k} {v}' for k, v in result.plan.packages.items())}) in {total:.1f}s")
    from tfsetup.install import activate_hint

    out.print(f"activate it with:  {activate_hint(result.target)}")
