"""backends/: every engine command line, and the explicit environment engines run with."""
from __future__ import annotations

from pathlib import Path

from tfsetup.backends import get_backend
from tfsetup.backends._proc import engine_env
from tfsetup.backends.base import PackageSource, Target, target_for

LOCK = Path("/locks/py3.11.txt")


def test_uv_lock_install_enforces_hashes_and_the_platform():
    uv = get_backend("uv", "/bin/uv")
    argv = uv.install_lock_argv(["arch", "-arm64", "/env/bin/python"], LOCK, PackageSource(),
                                Target(python_platform="aarch64-apple-darwin"))
    assert argv[:5] == ["/bin/uv", "pip", "install", "--python", "/env/bin/python"]
    for flag in ("--require-hashes", "--no-deps", "--no-config"):
        assert flag in argv
    assert not [a for a in argv if a.startswith(("--reinstall", "--refresh"))]  # they download every wheel again
    assert argv[argv.index("--only-binary") + 1] == ":all:"
    assert argv[argv.index("-r") + 1] == str(LOCK)
    assert argv[argv.index("--python-platform") + 1] == "aarch64-apple-darwin"
    assert "--compile-bytecode" not in argv


def test_pip_lock_install_runs_the_envs_own_pip_launched_natively():
    pip = get_backend("pip")
    argv = pip.install_lock_argv(["arch", "-arm64", "/env/bin/python"], LOCK, PackageSource(offline=True,
                                 find_links=["/wh"]), Target())
    assert argv[:5] == ["arch", "-arm64", "/env/bin/python", "-m", "pip"]
    assert {"--require-hashes", "--no-deps", "--no-index"} <= set(argv)
    assert argv[argv.index("--find-links") + 1] == "/wh"


def test_user_packages_are_constrained_by_the_lock():
    for backend in (get_backend("uv", "/bin/uv"), get_backend("pip")):
        argv = backend.install_packages_argv(["/env/bin/python"], ["pandas==2.2.3"], Path("/tmp/c.txt"),
                                             PackageSource())
        assert argv[argv.index("-c") + 1] == "/tmp/c.txt" and argv[-1] == "pandas==2.2.3"
        assert "--require-hashes" not in argv


def test_uninstall():
    assert get_backend("uv", "/bin/uv").uninstall_argv(["/e/python"], ["tensorflow"]) == \
        ["/bin/uv", "pip", "uninstall", "--python", "/e/python", "tensorflow"]
    assert get_backend("pip").uninstall_argv(["/e/python"], ["tensorflow"])[:5] == \
        ["/e/python", "-m", "pip", "uninstall", "-y"]


def test_offline_sources():
    assert PackageSource(offline=True).args(["--offline"], ["--no-index"]) == ["--offline"]
    assert PackageSource(index_url="https://i/simple").args(["--offline"], ["--no-index"]) == \
        ["--index-url", "https://i/simple"]


def test_target_for_a_mac_uses_its_real_macos_version():
    assert target_for("linux", "6.1", "x86_64", "x86_64-manylinux_2_28") == Target()
    mac = target_for("macos", "14.4.1", "arm64", "aarch64-apple-darwin")
    assert mac.python_platform == "aarch64-apple-darwin" and mac.env == {"MACOSX_DEPLOYMENT_TARGET": "14.4"}


def test_engine_env_drops_settings_that_change_where_or_what(monkeypatch):
    for key in ("PIP_TARGET", "PIP_PREFIX", "PIP_USER", "UV_LINK_MODE", "UV_EXCLUDE", "UV_CONSTRAINT",
                "PYTHONPATH", "VIRTUAL_ENV"):
        monkeypatch.setenv(key, "x")
    for key in ("HTTPS_PROXY", "UV_CACHE_DIR", "PIP_CERT", "UV_INDEX_CORP_PASSWORD", "SSL_CERT_FILE"):
        monkeypatch.setenv(key, "keep")
    env = engine_env({"MACOSX_DEPLOYMENT_TARGET": "14.4"})
    for key in ("PIP_TARGET", "PIP_PREFIX", "PIP_USER", "UV_LINK_MODE", "UV_EXCLUDE", "UV_CONSTRAINT",
                "PYTHONPATH", "VIRTUAL_ENV"):
        assert key not in env, key
    for key in ("HTTPS_PROXY", "UV_CACHE_DIR", "PIP_CERT", "UV_INDEX_CORP_PASSWORD", "SSL_CERT_FILE"):
        assert env[key] == "keep", key
    assert env["MACOSX_DEPLOYMENT_TARGET"] == "14.4"
    assert env["PIP_CONFIG_FILE"] == __import__("os").devnull


def test_a_locks_engine_env_takes_only_the_users_cache_and_offline_switch(monkeypatch):
    """Cross-resolution (a team lock): the user's indexes, find-links and macOS target would change the lock."""
    for key in ("UV_INDEX", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS", "UV_INDEX_CORP_PASSWORD", "PIP_INDEX_URL",
                "MACOSX_DEPLOYMENT_TARGET", "VIRTUAL_ENV"):
        monkeypatch.setenv(key, "x")
    for key in ("UV_CACHE_DIR", "UV_OFFLINE", "HTTPS_PROXY"):
        monkeypatch.setenv(key, "keep")
    env = engine_env({"MACOSX_DEPLOYMENT_TARGET": "12.0"}, lock=True)
    for key in ("UV_INDEX", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS", "UV_INDEX_CORP_PASSWORD", "PIP_INDEX_URL",
                "VIRTUAL_ENV"):
        assert key not in env, key
    assert [env[k] for k in ("UV_CACHE_DIR", "UV_OFFLINE", "HTTPS_PROXY")] == ["keep"] * 3
    assert env["MACOSX_DEPLOYMENT_TARGET"] == "12.0" and env["UV_NO_CONFIG"] == "1"
    assert "MACOSX_DEPLOYMENT_TARGET" not in engine_env(lock=True)


def test_run_step_streams_lines_as_they_come_and_keeps_the_deadline():
    import sys
    import time

    import pytest

    from tfsetup.backends._proc import run_step
    from tfsetup.backends.base import BackendError

    seen = []
    script = "import sys, time\nprint('one', flush=True)\ntime.sleep(0.3)\nprint('two', flush=True)"
    started = time.monotonic()
    out = run_step("step", [sys.executable, "-c", script], on_line=lambda line: seen.append((line, time.monotonic())))
    assert [line for line, _ in seen] == ["one", "two"] and out == "one\ntwo\n"
    assert seen[0][1] - started < seen[1][1] - started - 0.2  # 'one' arrived before 'two' was printed
    with pytest.raises(BackendError, match="timed out after 0.5s"):
        run_step("step", [sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5, on_line=seen.append)
    with pytest.raises(BackendError, match="boom"):
        run_step("step", [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"], on_line=seen.append)


def test_install_lock_reports_what_the_engine_downloads():
    import sys

    from tfsetup.backends import install_lock

    class Engine:  # the engine's output, as uv prints it on a cold cache
        name = "uv"

        def install_lock_argv(self, python, lock, source, target):
            return [sys.executable, "-c", "print('Resolved 33 packages'); print('Downloading tensorflow-cpu "
                    "(240.1MiB)'); print(' Downloaded tensorflow-cpu'); print('Installed 33 packages')"]

    downloads = []
    install_lock(Engine(), ["/env/bin/python"], LOCK, PackageSource(), Target(), on_download=downloads.append)
    assert downloads == ["Downloading tensorflow-cpu (240.1MiB)"]


def test_uv_python_install_names_the_build_and_links_nothing_into_path():
    from tfsetup.backends.base import PythonSource
    from tfsetup.backends.uv import UvBackend

    uv = UvBackend("uv")
    key = "cpython-3.12-macos-aarch64-none"  # the arch always named: uv under Rosetta is x86_64 itself
    assert uv.python_install_argv(key, PythonSource()) == ["uv", "python", "install", "--no-config", "--no-bin", key]
    argv = uv.python_install_argv(key, PythonSource(mirror="file:///srv/pbs", downloads_json_url="/srv/list.json",
                                                    offline=True))
    assert argv[6:] == ["--mirror", "file:///srv/pbs", "--python-downloads-json-url", "/srv/list.json", "--offline"]
    assert uv.python_find_argv(key) == ["uv", "python", "find", "--no-config", "--managed-python",
                                        "--no-python-downloads", key]


def test_engine_env_keeps_where_uv_stores_and_fetches_pythons(monkeypatch):
    for name in ("UV_PYTHON_INSTALL_DIR", "UV_PYTHON_INSTALL_MIRROR", "UV_PYTHON_DOWNLOADS_JSON_URL"):
        monkeypatch.setenv(name, "/somewhere")
        assert engine_env()[name] == "/somewhere"
