"""How a command ends: its Outcome printed by render.py and its exit code, or its failure (a TfsetupError, an
interrupt, a usage error) as one `tfsetup: error:` line (with --json, also one document on stdout) and the
right exit code. Once the process is leaving, late signals are ignored (no traceback for a hammered Ctrl-C)."""
from __future__ import annotations

import signal
import sys
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Union

import typer

try:  # typer >= 0.24 vendors click; older ones (on Python 3.9) depend on it
    from typer._click import exceptions as click_errors
except ImportError:
    from click import exceptions as click_errors

from tfsetup.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, TfsetupError
from tfsetup.output import emit_json, err

if TYPE_CHECKING:
    from tfsetup.commands._common import Outcome


def run_command(json_out: bool, body: Callable[[], Union[int, Outcome]]) -> None:
    """Run a command; render.show prints its Outcome and the process exits with the outcome's code. Known
    failures become one clear message and their exit code. (A body that returns an int printed its own.)"""
    from tfsetup.plan import PlanError  # lazy: start-up time (tfsetup.plan: ~50 ms, measured; `--help` needs none)

    try:
        outcome = body()
        if isinstance(outcome, int):
            code = outcome
        else:
            from tfsetup.render import show  # lazy: start-up time (render's imports; `--help` draws nothing)

            show(outcome, json_out)
            code = outcome.exit_code
    except TfsetupError as exc:
        rejected = [f"  {r.recipe}: {'; '.join(r.reasons)}" for r in exc.rejected] \
            if isinstance(exc, PlanError) else None
        _fail(json_out, exc.to_json(), exc.render(), exc.exit_code, rejected)
    except KeyboardInterrupt:
        from tfsetup.txn import signal_handlers  # lazy: start-up time (tfsetup.txn: ~20 ms, measured)

        stopped = _interrupted()
        if LEAVING["entry"]:  # the process is ending: a further Ctrl-C (hammered) changes nothing now
            _ignore_late_signals()
            LEAVING["reported"] = True
            _fail(json_out, stopped.to_json(), stopped.render(), EXIT_INTERRUPTED)
        # In-process (tests): another Ctrl-C is ignored only while the message is written, and the handlers
        # restored after, whatever happens.
        with signal_handlers(lambda signum, frame: None):
            _fail(json_out, stopped.to_json(), stopped.render(), EXIT_INTERRUPTED)
    raise typer.Exit(code)


LEAVING = {"entry": False, "reported": False}  # main() runs as the process; an interrupt was reported


def _interrupted() -> TfsetupError:
    """What an interrupt means: nothing changed, or (after the commit point) a change that stays."""
    from tfsetup.txn import COMMITTED  # lazy: start-up time (tfsetup.txn: ~20 ms, measured)

    if COMMITTED:  # interrupted after a change was made: say so, never "left as it was"
        return TfsetupError(f"interrupted after {COMMITTED[-1]} was changed; the change is complete and stays",
                            EXIT_INTERRUPTED, fix=f"`tfsetup verify {COMMITTED[-1]}` checks it")
    return TfsetupError("interrupted", EXIT_INTERRUPTED)


def _ignore_late_signals() -> None:
    """The process is leaving: SIGINT/SIGTERM/SIGHUP from now on are ignored (no traceback for a Ctrl-C
    pressed again and again). Retried until it holds, as one may land while the handlers are set."""
    names = ("SIGINT", "SIGTERM", "SIGHUP")
    while True:
        try:
            for sig in (getattr(signal, name) for name in names if hasattr(signal, name)):
                signal.signal(sig, signal.SIG_IGN)
            return
        except KeyboardInterrupt:
            continue


def _fail(json_out: bool, doc: dict, message: str, code: int, extra: Optional[List[str]] = None) -> None:
    if json_out:
        emit_json(doc)
    err(f"tfsetup: error: {message}")
    if extra and not json_out:
        err("rejected:")
        for line in extra:
            err(line)
    raise typer.Exit(code)


def run_process(app: Any) -> None:
    """The whole process: run the app, map every way it can end to one message and an exit code, leave."""
    no_args = getattr(click_errors, "NoArgsIsHelpError", ())  # click >= 8.2

    LEAVING["entry"] = True
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
        code = EXIT_INTERRUPTED
    except BrokenPipeError:  # `tfsetup detect --json | head` is fine
        code = 0
    except KeyboardInterrupt:  # landed outside run_command's handling: before the command, or as it ended
        _ignore_late_signals()
        if not LEAVING["reported"]:  # (set only once signals are ignored: its message is out)
            stopped = _interrupted()
            if "--json" in sys.argv[1:]:
                emit_json(stopped.to_json())
            err(f"tfsetup: error: {stopped.render()}")
        code = EXIT_INTERRUPTED
    _ignore_late_signals()  # leaving: nothing is left for a late signal to interrupt
    sys.exit(code if isinstance(code, int) else 0)


def _usage_error(exc) -> int:
    """Like every other error: one `tfsetup: error:` line (and with --json one document on stdout)."""
    command = exc.ctx.command_path if exc.ctx is not None else "tfsetup"
    message = exc.format_message().replace("\n", " ")
    fix = f"see `{command} --help` for the options and their values"
    if "--json" in sys.argv[1:]:
        emit_json({"error": message, "exit_code": EXIT_BAD_INPUT, "fix": fix})
    err(f"tfsetup: error: {message} (see `{command} --help`)")  # the pointer to --help is the fix
    return EXIT_BAD_INPUT
