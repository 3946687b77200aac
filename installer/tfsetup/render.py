"""Every command's output: `show` prints an Outcome (commands/) as one JSON document or as the human
report (rich, on stdout), then what goes to stderr either way. Only presentation lives here.

Over 400 lines because it is the one home of every command's human rendering, which the JSON documents
can be read against."""
from __future__ import annotations

import re
import shlex
import shutil
import sys
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

from tfsetup.env.record import describe
from tfsetup.layout import command as print_command
from tfsetup.layout import print_records, print_with_commands, prose
from tfsetup.output import console, emit_json, err
from tfsetup.plan import flags_to_pick
from tfsetup.verify import longer_timeout

if TYPE_CHECKING:
    from tfsetup.host.facts import HostFacts

STATUS_STYLE = {"pass": "green", "warn": "yellow", "fail": "red", "skip": "dim"}
SEVERITY_STYLE = {"error": "red", "warning": "yellow", "info": "cyan"}  # a finding's, in doctor and explain


def escape(markup: str) -> str:
    """rich's markup escape, imported on first use: `--json` output draws nothing and needs no rich."""
    from rich.markup import escape as rich_escape  # lazy: start-up time (rich: ~60 ms, measured; --json draws nothing)

    return rich_escape(markup)


def severity_heading(finding: Any) -> str:
    """A finding's first line: its severity, coloured, and its id."""
    return f"[bold {SEVERITY_STYLE.get(finding.severity, '')}]{finding.severity}[/] [bold]{escape(finding.id)}[/]"


def show(outcome: Any, json_out: bool) -> None:
    """The one output rule: with --json one document on stdout, else the human report; then the lines
    stderr gets in both modes (why a check failed, a stale lock, a failed repair)."""
    if json_out:
        emit_json(outcome.to_json())
    else:
        _HUMAN[outcome.command](outcome)
    after = _STDERR.get(outcome.command)
    if after is not None:
        after(outcome)


def progress_lines(json_out: bool) -> Optional[Callable[[str], None]]:
    """A command's progress, a line each on stderr; None with --json (the document says it all)."""
    return None if json_out else indented


def indented(message: str) -> None:
    err(f"   {message}")


def render_facts(facts: HostFacts) -> None:
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
    rows = [(py.version + (" (free-threaded)" if py.free_threaded else ""), " ".join(py.archs), py.source,
             escape(py.executable)) for py in sorted(facts.pythons, key=lambda p: _version_key(p.version), reverse=True)]
    print_records(out, "Python interpreters", ("version", "archs", "source", "executable"), rows,
                  lambda r: [f"{r[0]}  {r[1]}  {r[2]}", r[3]])
    for skipped in facts.skipped_pythons:
        out.print(f"[dim]skipped {skipped.get('executable')}: {skipped.get('reason')}[/]")


def _version_key(version: str) -> Tuple[int, ...]:
    """3.10 after 3.9, whatever the suffix ("3.13.0t", "3.14.0rc1")."""
    return tuple(int(n) for n in re.findall(r"\d+", version)[:3])


def render_recipes(rows: Sequence[Tuple[object, List[str]]], facts: HostFacts) -> None:
    cells = []
    for recipe, reasons in rows:
        plugin = f"{recipe.plugin} {recipe.plugin_version}" if recipe.plugin else ""
        status = recipe.status.replace("prerelease", "pre-release") + (" (default)" if recipe.default else "")
        only_with = f", with {' '.join(flags)}" if (flags := flags_to_pick(recipe)) else ""
        fits = f"[red]no[/]: {escape(reasons[0])}" if reasons else f"[green]yes[/]{only_with}"
        cells.append((recipe.id, recipe.accelerator, f"{recipe.distribution} {recipe.tensorflow}", plugin,
                      ", ".join(recipe.pythons), status, fits))

    def block(r: Sequence[str]) -> List[str]:  # ids are copied into --recipe: each on a line of its own
        return [f"[bold]{r[0]}[/]", f"{r[2]}{' + ' + r[3] if r[3] else ''} · {r[1]} · Python {r[4]} · {r[5]}",
                f"fits this host: {r[6]}"]

    print_records(console(), f"Recipes (this host: {facts.platform})",
                  ("id", "accel", "TensorFlow", "plug-in", "Pythons", "status", "fits this host?"), cells, block)


def render_plan_result(planned: Any) -> None:
    """plan's report (and install's, before it builds): the project in use on stderr, then the plan."""
    project = planned.project
    if project:  # on stderr: the report on stdout stays the plan alone
        source = project["config"] + (f" and {project['lock']} [{project['section']}]" if "lock" in project else "")
        err(f"using {source} (--no-project ignores it)")
    render_plan(planned.plan, project)


def render_plan(plan, project: Optional[dict] = None) -> None:
    """The plan on stdout; in a project with a tfsetup.lock, its section is what gets installed."""
    out = console()
    section = (project or {}).get("section")
    recipe = plan.recipe
    pkgs = ", ".join(f"{k} {v}" for k, v in plan.packages.items())
    out.print(f"[bold]recipe[/]  {recipe.id} ({recipe.accelerator})")
    out.print(f"[bold]stack[/]   {pkgs}")
    if plan.managed is not None and not plan.python.executable:
        managed = plan.managed
        out.print(f"[bold]python[/]  {plan.python.minor}.x (managed: downloaded by uv, native {managed.arch}, "
                  f"~{managed.size_mb} MB)  [dim]{escape(managed.key)}[/]")
        for note in plan.passed_over:
            out.print(f"[dim]        passed over: {escape(note)}[/]")
    else:
        out.print(f"[bold]python[/]  {plan.python.version} {escape(plan.python.executable)}"
                  + (f"  (launched as: {' '.join(plan.launch)})" if len(plan.launch) > 1 else ""))
    where = f"tfsetup.lock [{section}]" if section else recipe.lock_relpath(plan.python.minor)
    out.print(f"[bold]lock[/]    {escape(where)} ({len(plan.lock.pins)} packages, hashes)")
    for warning in plan.warnings:
        out.print(f"[yellow]warning:[/] {escape(warning)}")
    if plan.rejected and not section:  # with a team lock the section decided, not the table
        out.print("[dim]not chosen:[/]")
        for rej in plan.rejected:
            pick = f"; {' '.join(rej.select.flags)} picks it" if rej.select is not None else ""
            out.print(f"[dim]  {rej.recipe}: {escape('; '.join(rej.reasons) + pick)}[/]")


def render_checks(checks: Sequence[dict], title: str) -> None:
    rows = [(check["id"], f"[{STATUS_STYLE.get(check['status'], '')}]{check['status']}[/]",
             escape(check.get("message", ""))) for check in checks]
    print_records(console(), title, ("check", "status", "detail"), rows, lambda r: [f"{r[0]}  {r[1]}", r[2]])


def render_install(result) -> None:
    out = console()
    if result.declined:
        out.print(f"declined; nothing was changed ({result.target} is as it was)")
        return
    if result.unchanged:
        out.print(f"[green bold]up to date[/] {result.target} already holds {result.plan.recipe.id} "
                  f"(verified {result.record.get('verified_at') or ''}); --force rebuilds it")
        out.print("activate it with:")
        print_command(out, result.to_json()['activate'])
        return
    if result.verification is not None:
        render_checks([c.to_json() for c in result.verification.checks], "Verification")
    total = sum(result.timings.values())
    ready = "[green bold]ready[/]" if result.verification is not None else "[yellow bold]ready, not verified[/]"
    out.print(f"{ready} {result.target} ({result.plan.recipe.id}, "
              f"{', '.join(f'{k} {v}' for k, v in result.plan.packages.items())}) in {total:.1f}s")
    if result.verification is None:  # --no-verify: nothing has shown that this stack works
        out.print("[yellow]not verified:[/] check it with:")
        print_command(out, f"tfsetup verify {shlex.quote(str(result.target))}")
    out.print("activate it with:")
    print_command(out, result.to_json()['activate'])


def stage_progress(json_out: bool) -> Callable[[str, str], None]:
    """install's stage lines on stderr. On a terminal each stage also shows a spinner while it runs; when
    stderr is captured (CI, scripts, tests) it stays plain lines, which tools can watch."""
    labels = {"python": "installing a native Python (uv)", "venv": "creating the venv",
              "install": "installing the locked packages",
              "verify": "verifying inside the new env", "promote": "moving the env into place"}
    started: Dict[str, float] = {}
    spinners: Dict[str, Any] = {}
    tty = sys.stderr.isatty() and not json_out

    def report(stage: str, event: str) -> None:
        label = labels.get(stage, stage)
        if event == "start":
            started[stage] = time.perf_counter()
            err(f"-> {label} ...")
            if tty:
                from rich.console import Console  # lazy: start-up time (rich: ~90 ms, measured; only on a terminal)

                spinners[stage] = Console(stderr=True).status(f"{label} ...")
                spinners[stage].start()
        elif event == "done":
            if stage in spinners:
                spinners.pop(stage).stop()
            err(f"   done in {time.perf_counter() - started.get(stage, time.perf_counter()):.1f}s")
        else:
            err(f"   {event}")
            if stage in spinners:  # the spinner says what it waits for now, on one line (a wrapped one stays)
                room = shutil.get_terminal_size().columns - 4
                text = f"{label}: {event}"
                spinners[stage].update(text if len(text) <= room else text[:max(room - 3, 10)] + "...")

    return report


def render_verify_failed(env: Any, result: Any) -> None:
    failed = ", ".join(c.id for c in result.checks if c.status == "fail") or "the probe"
    if getattr(result, "timed_out", False):  # slow, not broken: the doctor would find nothing
        err(f"tfsetup: verification timed out after {result.seconds:.0f}s ({failed})\n  fix: raise --timeout: "
            f"`tfsetup verify {shlex.quote(str(env))} --timeout {longer_timeout(result.seconds)}` (a first import "
            "of TensorFlow can take a minute on a slow disk)")
        return
    err(f"tfsetup: verification failed ({failed})\n  fix: `tfsetup doctor --deep --fix {shlex.quote(str(env))}` "
        "imports TensorFlow to name the cause, repairs the stack and verifies again")


def render_explain(findings: Sequence[Any]) -> None:
    con = console()
    for f in findings:
        con.print(severity_heading(f))
        con.print(f"  {escape(f.message)}")
        con.print(f"  [green]fix:[/] {escape(f.fix)}")
        for line in f.evidence:
            con.print(f"  [dim]> {escape(line)}[/]")
        for url in f.sources[:2]:
            con.print(f"  [dim]see {escape(url)}[/]")


def _sections(count: int) -> str:
    return f"{count} section" + ("" if count == 1 else "s")


def render_lock(result: Any) -> None:
    if result.checked:
        if result.up_to_date:  # the report: on stdout, like every command's report
            print(f"{result.lock.name} is up to date ({_sections(len(result.sections))})")
        return
    made = [] if result.recipe else [f"wrote {result.lock} ({_sections(len(result.sections))})"]
    print("\n".join(made + [f"wrote {p} (install with: uv pip install -r {shlex.quote(str(p))})"
                             for p in result.pylocks]))


def render_lock_stale(result: Any) -> None:
    for reason in result.reasons:  # --check: why the lock is stale, on stderr with --json too
        err(f"stale: {reason}")


def render_wheelhouse(summary: Dict[str, Any], directory: Any) -> None:
    pythons = summary.get("pythons") or []
    pin = f" --python {pythons[0]}" if len(pythons) == 1 else ""  # the Python the wheels are for
    print(f"{len(summary['wheels'])} wheels in {directory} ({summary['downloaded']} downloaded); install "
          f"with: tfsetup install --offline --find-links {shlex.quote(str(directory))}{pin}")


def render_report(doc: Dict[str, Any]) -> None:
    out = console()
    out.print(f"{doc['host']['os']} {doc['host']['os_version']} {doc['host']['machine']}: "
              f"{doc['summary']['envs']} env(s), {doc['summary']['errors']} error finding(s)")
    for env in doc["envs"]:
        state = env["status"].replace("-", " ") + (f" ({env['status_reason']})" if env.get("status_reason") else "")
        made = env.get("recipe") or ("made by tfsetup" if env.get("registered") else "not made by tfsetup")
        out.print(f"  {env['path']}: {made} — {state}")


def render_findings(findings: List[Any], rp: Any, env: Any, fix: bool) -> None:
    """doctor's report on stdout: the findings table, then the repair plan."""
    out = console()
    tf = ", ".join(f"{d.key} {d.version}" for d in env.tf_distributions()) or "no TensorFlow"
    out.print(f"[bold]{escape(env.path)}[/]: Python {env.version} ({env.machine}{', conda' if env.conda else ''}), "
              f"{escape(tf)}")
    if not findings:
        out.print("[green]No problems found.[/]")
    for f in findings:  # one block per finding: prose wraps at words, commands stand on their own lines
        out.print()
        out.print(severity_heading(f))
        prose(out, escape(f.message), indent=2)
        for e in f.evidence[:4]:
            prose(out, f"[dim]· {escape(e)}[/]", indent=2)
        print_with_commands(out, "[green]fix:[/] ", f.fix, indent=2)
    if rp.actions:
        if not (env.venv or env.conda):
            how = (" (--fix does not change a system Python: make a separate env with "
                   "`tfsetup install PATH` instead)")
        else:
            command = f"tfsetup doctor --fix {shlex.quote(env.path)}"
            how = "" if fix else " (the env is kept as it is if anything fails)"
        out.print()
        out.print("[bold]Repair plan[/]" + escape(how) + ":")
        for i, action in enumerate(rp.actions, 1):
            label = "by hand" if action.kind == "manual" else action.kind
            prose(out, f"{i}. {escape('[' + label + ']')} {escape(action.summary)}", indent=2)
        if (env.venv or env.conda) and not fix:
            out.print("apply it with:")
            print_command(out, command)


def render_doctor_result(outcome: Any) -> None:
    out = console()
    if outcome.verified is not None:  # --fix that only verified: its result, and what the import found
        v = outcome.verification or {}
        failed = ", ".join(f"{c['id']}: {c.get('message', '')}" for c in v.get("checks") or [] if c["status"] == "fail")
        out.print("[green bold]verified[/]: the env passed verification" if outcome.verified else
                  f"[red bold]verification {'timed out' if v.get('timed_out') else 'failed'}[/] ({escape(failed)})")
        for f in [f for f in outcome.after or [] if f.severity in ("error", "warning") and f.id != "not-verified"]:
            out.print(f"[yellow]found:[/] {f.id}: {escape(f.message)}")
            print_with_commands(out, "  [green]fix:[/] ", f.fix, indent=2)
        return
    if outcome.repaired:
        out.print("[green bold]repaired[/]: the env passed verification; the repair is recorded in tfsetup-env.json")
        remaining = [f for f in (outcome.after or []) if f.severity in ("error", "warning")]
        for f in remaining:
            out.print(f"[yellow]still:[/] {f.id}: {escape(f.message)}")
    elif outcome.error is not None:
        out.print(f"[red bold]repair failed[/]: {escape(outcome.error)}")
        if outcome.restored:
            out.print("the env is exactly as it was before the repair")


# ---------------------------------------------------------------------------------------------
# env lifecycle: add, upgrade, list, remove

def render_add(result: Any) -> None:
    out = console()
    for note in result.notes:
        out.print(f"[dim]{note}[/]")
    added = ", ".join(f"{k} {v}" for k, v in result.added.items())
    if result.unchanged:
        out.print(f"[green bold]nothing to install[/]: {added} already in {result.env}")
        return
    if result.verification is not None:
        render_checks([c.to_json() for c in result.verification.checks], "Quick verification")
    out.print(f"[green bold]added[/] {added} to {result.env} ({len(result.installed)} package(s) installed; "
              "the locked stack did not move)")


def render_upgrade_plan(up: Any) -> None:
    """What `upgrade` will do, before it asks."""
    out = console()
    if up.up_to_date:
        out.print(f"[green bold]up to date[/] {up.env} already holds {up.new}")
        return
    out.print(f"[bold]upgrade[/] {up.env}: {up.old or 'unknown'} -> {up.new}")
    for name, (old, new) in up.carried.items():
        out.print(f"  carried: {name} {old}" + (f" -> {new}" if new != old else ""))
    for name, why in up.dropped.items():
        out.print(f"  [yellow]cannot follow:[/] {name}: {why}")
    if up.changes is not None and up.changes.python_changes:  # a new interpreter: say so, --yes or not
        out.print(f"  [yellow]Python:[/] {up.changes.python_from} -> {up.changes.python_to}")


def render_upgrade(result: Any) -> None:
    out = console()
    if result.declined:
        out.print("declined; nothing was changed")
    elif result.upgraded:
        if result.verification is not None:
            render_checks([c.to_json() for c in result.verification.checks], "Verification")
        out.print(f"[green bold]upgraded[/] {result.upgrade.env} to {result.upgrade.new}"
                  + (f", carrying {len(result.upgrade.carried)} package(s)" if result.upgrade.carried else ""))


LIST_STATUS = {"ok": "[green]ok[/]", "not-verified": "[yellow]not verified[/]", "broken": "[red]broken[/]",
               "missing": "[red]missing[/]"}


def render_list(result: Any) -> None:
    out = console()
    for path in result.pruned:
        out.print(f"forgot {escape(path)} (missing)")
    if not result.envs:
        out.print("no envs made by tfsetup on this machine (`tfsetup install PATH` makes one)")
        return
    rows = [(escape(env["path"]), env.get("recipe") or "", env.get("tensorflow") or "",
             (env.get("verified_at") or "")[:16].replace("T", " "), LIST_STATUS.get(env["status"], env["status"])
             + (f" ({escape(env['status_reason'])})" if env.get("status_reason") else ""))
            for env in result.envs]
    print_records(out, "Envs made by tfsetup", ("path", "recipe", "TF", "verified", "status"), rows,
                  lambda r: [f"{r[0]}  {r[4]}"] + ([f"{r[1]} (TF {r[2] or '?'})"
                                                    + (f", verified {r[3]}" if r[3] else "")] if r[1] else []))
    missing = [e["path"] for e in result.envs if e["status"] == "missing"]
    if missing:
        print_with_commands(out, "[red]missing:[/] ", f"forget them with `tfsetup list --prune`, or one with "
                            f"`tfsetup remove --forget {shlex.quote(missing[0])}`", indent=0)
    broken = [e["path"] for e in result.envs if e["status"] == "broken"]
    if broken:
        print_with_commands(out, "[red]broken:[/] ", f"see why and repair: `tfsetup doctor --fix "
                            f"{shlex.quote(broken[0])}`", indent=0)
    unverified = [e["path"] for e in result.envs if e["status"] == "not-verified"]
    if unverified:
        print_with_commands(out, "[yellow]not verified:[/] ", f"check with `tfsetup verify "
                            f"{shlex.quote(unverified[0])}`", indent=0)


def render_remove(result: Any) -> None:
    if result.removed:
        print(f"removed {result.path}")
    elif result.forgotten:
        print(f"forgot {result.path} (tfsetup no longer lists it)")
    else:
        print("declined; nothing was removed")


def _verify_failed(outcome: Any) -> None:
    if not outcome.result.ok:
        render_verify_failed(outcome.env, outcome.result)


# command -> its human report (stdout), and the lines it writes on stderr in both modes
_HUMAN: Dict[str, Callable[[Any], None]] = {
    "detect": lambda o: render_facts(o.facts),
    "recipes": lambda o: render_recipes(o.rows, o.facts),
    "explain": lambda o: render_explain(o.findings),
    "doctor": render_doctor_result,
    "plan": render_plan_result,
    "install": lambda o: render_install(o.result),
    "verify": lambda o: render_checks([c.to_json() for c in o.result.checks], f"Verification of {o.env}"),
    "lock": render_lock,
    "wheelhouse": lambda o: render_wheelhouse(o.summary, o.directory),
    "report": lambda o: render_report(o.doc),
    "add": lambda o: render_add(o.result),
    "upgrade": lambda o: render_upgrade(o.result),
    "list": lambda o: render_list(o.result),
    "remove": lambda o: render_remove(o.result),
}
def _repair_failed(outcome: Any) -> None:
    failed = outcome.repair_failed  # an error like any other: one line on stderr
    if failed is not None:
        err(f"tfsetup: error: {failed.render()}")


def _no_known_problem(outcome: Any) -> None:
    if not outcome.findings:
        err("no known problem matched")


_STDERR: Dict[str, Callable[[Any], None]] = {
    "explain": _no_known_problem,
    "doctor": _repair_failed,
    "verify": _verify_failed,
    "lock": render_lock_stale,
}


PROVE_SHOWN = ("tensorflow", "tensorflow-macos", "tensorflow-cpu", "tensorflow-metal", "numpy")


def render_prove(result: Any) -> None:
    """What the target's loader would print first (dyld on a Mac, ld.so on Linux), then the fix, then the
    problems grouped per file and kind (a count and a few examples each), then what was checked."""
    loader = result.loader  # prove/loader.py: the words of the target's loader
    names = [n for n in PROVE_SHOWN if n in result.packages] or sorted(result.packages)[:5]
    stack = " + ".join(f"{n} {result.packages[n]}" for n in names) or "(no distributions)"
    system, version = loader.system, result.judged
    target = f"{result.platform}, Python {result.python}, " + (f"{system} {version}" if version else f"any {system}")
    if result.loads:
        print(f"loads: {stack} on {target}")
    else:
        print(result.headline())
        print(f"fix: {result.fix}")
        print()
        print(f"does not load: {stack} on {target}")
        for p in result.problems:
            what = {"wrong-arch": f"has {p.have}, needs {p.needs}",
                    "macos-too-old": f"built for macOS {p.needs}",
                    "glibc-too-old": f"over glibc {p.have}:", "library-not-found": p.library or "",
                    "library-not-loaded": p.library or ""}.get(p.kind, f"expected in {getattr(p, 'expected_in', '')}")
            count = f" ({p.count} symbols)" if p.kind.startswith("symbol") and p.count > 1 else ""
            print(f"  {p.kind}: {p.file}: {what}{count}")
            for symbol in p.examples[:3]:
                print(f"      {symbol}")
            if p.kind.startswith("symbol") and p.count > 3:
                print(f"      ... {p.count - min(3, len(p.examples))} more")
    for note in result.notes:
        print(f"note: {note}")
    report = result.report
    counted, newest = loader.checked_words(result)
    judged = f"; {system} {result.judged} from {result.judged_from}" if result.judged else ""
    print(f"checked {report.files_checked} {loader.format} files, {counted} "
          f"in {result.seconds:.1f} s ({result.subject}{judged}{newest})")


def replace_question(target: Any, kind: str, record: Optional[Dict[str, Any]], new: str = "",
                     changes: Sequence[str] = ()) -> str:
    """install's "replace?" question: old -> new, and what the replace drops or changes (ReplaceChanges.lines)."""
    old = describe(record)
    change = f" ({old} -> {new})" if old and new else ""
    dropped = "".join(f"; {line}" for line in changes)
    return f"{target} is an existing {kind}{change}{dropped}. Replace it (it stays intact until the new env " \
           "has verified)?"
