"""How probe output (including crashes) becomes checks."""
import json
import signal

from tfsetup.verify import parse_events, signal_name


def lines(*events):
    return "\n".join(json.dumps(e) for e in events) + "\n"


def test_clean_run():
    out = lines({"event": "start", "id": "python-arch"},
                {"event": "result", "id": "python-arch", "status": "pass", "message": "runs as arm64"},
                {"event": "done"})
    result = parse_events(out, 0, "")
    assert result.ok and [c.id for c in result.checks] == ["python-arch"]


def test_sigill_during_import_fails_that_check_and_names_the_cause():
    out = lines({"event": "start", "id": "python-arch"},
                {"event": "result", "id": "python-arch", "status": "pass", "message": "x86_64"},
                {"event": "start", "id": "tf-import"})
    result = parse_events(out, -signal.SIGILL, "Illegal instruction")
    check = result.check("tf-import")
    assert check.status == "fail" and "SIGILL" in check.message and "AVX" in check.message
    assert result.check("train-step").status == "skip"
    assert not result.ok and result.signal == "SIGILL"


def test_shell_style_and_windows_codes():
    assert signal_name(132) == "SIGILL"
    assert signal_name(0xC000001D) == "SIGILL"
    assert signal_name(1) is None


def test_early_exit_without_signal_quotes_stderr():
    result = parse_events("", 1, "Traceback ...\nImportError: libfoo.so: cannot open shared object file\n")
    assert result.check("python-arch").status == "fail"
    assert "libfoo.so" in result.check("python-arch").message
