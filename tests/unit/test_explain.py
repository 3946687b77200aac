"""tfsetup explain: every real error text under tests/fixtures/errors/ gets its finding (or none)."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from tfsetup.doctor.catalog import sources_of
from tfsetup.doctor.explain import RULES, explain, explain_exit
from tfsetup.doctor.findings import SEVERITIES
from tfsetup.recipes import Incompatible, RecipeTable, load_recipes

from tests.conftest import FIXTURES, REPO

ERRORS = FIXTURES / "errors"
TABLE = load_recipes(REPO / "recipes" / "recipes.toml")
FILES = sorted(ERRORS.glob("*.txt"))
IDS = {"metal-plugin-abi-mismatch", "numpy-abi-mismatch", "illegal-instruction", "protobuf-mismatch",
       "unsupported-wheel", "no-matching-distribution", "no-registered-platform", "keras-mismatch",
       "cuda-libs-missing", "rosetta-arch-mismatch", "libprotobuf-version-clash", "base-python-missing"}


def _read(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace")


def _in_text(line: str, text: str) -> bool:
    """Evidence is a stripped line of the text (long lines are cut and end in ' ...')."""
    lines = [ln.strip() for ln in text.splitlines()]
    if line.endswith(" ..."):
        return any(ln.startswith(line[:-4]) for ln in lines)
    return line in lines


def test_fixtures_cover_every_finding_id():
    assert len(FILES) >= 40
    named = {p.name.split("--")[0] for p in FILES}
    assert named == IDS | {"none"}
    assert {r.id for r in RULES} == IDS
    assert all(sources_of(i) for i in IDS)  # every explained finding cites public reports (doctor/catalog.py)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_fixture(path: Path):
    expected = path.name.split("--")[0]
    text = _read(path)
    findings = explain(text)
    if expected == "none":
        assert findings == []
        return
    assert [f.id for f in findings] == [expected]  # exactly its finding: no extra, wrong ones
    assert [f.id for f in explain(text, TABLE)] == [expected]  # the table's signatures add none either
    (finding,) = findings
    assert finding.severity in SEVERITIES and finding.message and finding.fix
    assert 1 <= len(finding.evidence) <= 3
    for line in finding.evidence:
        assert _in_text(line, text), line
    assert finding.sources and all(s.startswith("https://") for s in finding.sources)
    if expected != "cuda-libs-missing":
        assert finding.severity == "error"


def test_sources_come_from_the_fixture_notes():
    notes = (ERRORS / "SOURCES.md").read_text()
    for urls in (sources_of(i) for i in IDS):
        for url in urls:
            assert url in notes, url


def test_benign_cudart_is_a_warning_not_an_error():
    findings = explain(_read(ERRORS / "cuda-libs-missing--cpu-ci-cudart-dlerror-benign.txt"))
    assert [(f.id, f.severity) for f in findings] == [("cuda-libs-missing", "warning")]


def test_missing_cuda_libs_with_gpu_skipped_is_an_error():
    (finding,) = explain(_read(ERRORS / "cuda-libs-missing--cusolver-nvjitlink-cannot-dlopen.txt"))
    assert finding.severity == "error"
    assert "libnvJitLink.so.12" in finding.message  # the library dlerror names, not the one TF asked for


def test_successfully_opened_libraries_are_not_problems():
    text = "I tensorflow/stream_executor/platform/default/dso_loader.cc:49] Successfully opened dynamic library libcudart.so.11.0\n"
    assert explain(text) == []


def test_metal_plugin_names_the_missing_symbol():
    (finding,) = explain(_read(ERRORS / "metal-plugin-abi-mismatch--tf25-assignupdatevariable.txt"))
    assert "_TF_AssignUpdateVariable" in finding.message
    assert "tensorflow-metal 1.2.0" in finding.fix and "pip uninstall tensorflow-metal" in finding.fix


def test_symbol_not_found_in_another_library_is_not_the_metal_plugin():
    text = "NotFoundError: dlopen(/x/site-packages/foo/libplugin.so, 6): Symbol not found: _TF_Foo\n"
    assert explain(text) == []


def test_rosetta_reads_the_direction():
    (x86_in_arm,) = explain("(mach-o file, but is an incompatible architecture (have 'x86_64', need 'arm64'))")
    (arm_in_x86,) = explain("(mach-o file, but is an incompatible architecture (have 'arm64', need 'x86_64'))")
    assert "native arm64 Python" in x86_in_arm.message
    assert "Rosetta" in arm_in_x86.message


def test_no_matching_distribution_reads_the_versions():
    (pinned,) = explain(_read(ERRORS / "no-matching-distribution--pinned-2130-on-py312-colab.txt"))
    assert "tensorflow==2.13.0" in pinned.message and "2.21.0" in pinned.message
    (none,) = explain(_read(ERRORS / "no-matching-distribution--py313-windows.txt"))
    assert "no tensorflow wheel at all" in none.message and "tfsetup plan" in none.fix
    assert explain("ERROR: No matching distribution found for requests\n") == []


def test_unsupported_wheel_parses_the_tags():
    (arm,) = explain(_read(ERRORS / "unsupported-wheel--tensorflow-text-arm64-cp310.txt"))
    assert "tensorflow_text-2.15.0-cp310-cp310-macosx_11_0_arm64.whl" in arm.message and "arm64" in arm.message


def test_numpy_banner_without_tensorflow_is_generic():
    text = ("A module that was compiled using NumPy 1.x cannot be run in\nNumPy 2.0.0 as it may crash.\n"
            "  File \"/x/site-packages/cv2/__init__.py\", line 1\n")
    (finding,) = explain(text)
    assert finding.id == "numpy-abi-mismatch" and "not necessarily TensorFlow" in finding.message
    (tf,) = explain(_read(ERRORS / "numpy-abi-mismatch--windows-import-tensorflow.txt"))
    assert "TensorFlow" in tf.message and "numpy<2" in tf.fix


@pytest.mark.parametrize("text", [
    "Process finished with exit code 132",
    "subprocess exited with exit status 132",
    "killed by signal 4",
    "Fatal: SIGILL",
    "command returned -4",
    "zsh: illegal hardware instruction  python",
])
def test_exit_statuses_mean_illegal_instruction(text):
    assert [f.id for f in explain(text)] == ["illegal-instruction"]


@pytest.mark.parametrize("text", ["exit code 1320", "signal 42", "returned -42", "exit status 13"])
def test_similar_numbers_are_not_sigill(text):
    assert explain(text) == []


def test_explain_exit():
    (finding,) = explain_exit(-4, "")
    assert finding.id == "illegal-instruction" and finding.evidence == ("exit status -4 (killed by SIGILL)",)
    assert [f.id for f in explain_exit(132, "")] == ["illegal-instruction"]
    # stderr already says it: one finding, the evidence from the text
    (again,) = explain_exit(-4, "zsh: illegal hardware instruction  python3")
    assert again.evidence == ("zsh: illegal hardware instruction  python3",)
    assert explain_exit(1, "") == []
    assert [f.id for f in explain_exit(1, "AttributeError: _ARRAY_API not found")] == ["numpy-abi-mismatch"]


def test_empty_and_whitespace():
    assert explain("") == []
    assert explain("\n\n   \r\n") == []


def test_dedupes_and_sorts_worst_first():
    benign = _read(ERRORS / "cuda-libs-missing--cpu-ci-cudart-dlerror-benign.txt")
    protobuf = _read(ERRORS / "protobuf-mismatch--tf271-import-protobuf-421.txt")
    findings = explain(benign + protobuf + protobuf + benign)
    assert [(f.id, f.severity) for f in findings] == [("protobuf-mismatch", "error"),
                                                     ("cuda-libs-missing", "warning")]
    assert len(findings[0].evidence) == len(set(findings[0].evidence)) == 1


def test_repeated_lines_give_at_most_three_evidence_lines():
    text = "".join(f"2023-01-05 12:38:02.{i:06d}: W op_kernel.cc:1830] NOT_FOUND: could not find registered "
                   f"platform with id: 0x1051fc880\n" for i in range(5000))
    (finding,) = explain(text)
    assert finding.id == "no-registered-platform" and len(finding.evidence) == 3


def test_crlf_text():
    text = _read(ERRORS / "metal-plugin-abi-mismatch--tf218-symbol-not-found-logmessage.txt").replace("\n", "\r\n")
    (finding,) = explain(text)
    assert finding.id == "metal-plugin-abi-mismatch" and not any("\r" in e for e in finding.evidence)


def test_binary_garbage_does_not_crash():
    garbage = bytes(range(256)) * 4000 + os.urandom(200_000)
    assert explain(garbage.decode("utf-8", errors="replace")) == []
    assert explain("\0" * 100_000) == []


@pytest.mark.parametrize("kind", ["log", "one-line", "repeated-prefix"])
def test_five_megabytes_is_fast(kind):
    if kind == "log":
        line = "2024-01-01 12:00:00.000000: I tensorflow/core/platform/cpu_feature_guard.cc:182] optimized.\n"
        text = line * (5_000_000 // len(line)) + "AttributeError: _ARRAY_API not found\n"
    elif kind == "one-line":
        text = "x" * 5_000_000 + " Illegal instruction (core dumped)"
    else:  # many partial matches on one huge line must not go quadratic
        text = "libmetal_plugin.dylib " * 230_000 + "requires keras<" * 10_000
    started = time.perf_counter()
    findings = explain(text)
    assert time.perf_counter() - started < 10
    if kind == "log":
        assert [f.id for f in findings] == ["numpy-abi-mismatch"]
        assert findings[0].evidence == ("AttributeError: _ARRAY_API not found",)
    elif kind == "one-line":
        assert [f.id for f in findings] == ["illegal-instruction"]
        assert all(len(e) < 500 for e in findings[0].evidence)
    else:
        assert findings == []


# ---------------------------------------------------------------------------------------------
# the recipes table's incompatible signatures

def _table(*entries: Incompatible) -> RecipeTable:
    return RecipeTable(recipes=(), incompatible=entries, path="test.toml")


TF220_METAL = Incompatible(
    id="tf2.20-metal1.2", finding="metal-plugin-abi-mismatch",
    when={"tensorflow": SpecifierSet(">=2.20"), "tensorflow-metal": SpecifierSet("<=1.2.0")},
    signatures=("__ZN10tensorflow28_AttrValue_default_instance_E",),
    message="tensorflow-metal 1.2.0 does not load in TF 2.20+.", fix="pin TF 2.19: `tfsetup install --force`",
    sources=("https://example.org/tf-metal-2.20",), os="macos")
CUSTOM = Incompatible(
    id="weird-thing", finding="weird-thing", when={}, signatures=("FooBarBaz exploded", "FooBar melted"),
    message="Foo broke.", fix="do the fix", sources=("https://example.org/foo",))


def test_table_signature_yields_its_finding():
    text = "line one\n  E FooBar melted here  \nFooBarBaz exploded\nFooBarBaz exploded\n"
    (finding,) = explain(text, _table(CUSTOM))
    assert (finding.id, finding.severity, finding.message, finding.fix) == (
        "weird-thing", "error", "Foo broke.", "do the fix")
    assert finding.evidence == ("E FooBar melted here", "FooBarBaz exploded")
    assert finding.sources == ("https://example.org/foo",)
    assert explain("nothing here", _table(CUSTOM)) == []


def test_table_entry_merges_with_a_builtin_finding():
    text = ("NotFoundError: dlopen(/x/tensorflow-plugins/libmetal_plugin.dylib, 0x0006): Symbol not found: "
            "__ZN10tensorflow28_AttrValue_default_instance_E\n")
    (finding,) = explain(text, _table(TF220_METAL))
    assert finding.id == "metal-plugin-abi-mismatch"
    assert finding.message == TF220_METAL.message and finding.fix == TF220_METAL.fix
    assert finding.evidence == (text.strip(),)
    assert finding.sources[0] == "https://example.org/tf-metal-2.20"
    assert set(sources_of("metal-plugin-abi-mismatch")) <= set(finding.sources)
    # without the table the built-in rule still names it
    assert [f.id for f in explain(text)] == ["metal-plugin-abi-mismatch"]


def test_two_table_entries_with_one_finding_id_give_one_finding():
    other = Incompatible(id="weird-2", finding="weird-thing", when={}, signatures=("Qux",), message="Qux.",
                         fix="fix qux", sources=("https://example.org/qux",))
    findings = explain("FooBarBaz exploded\nQux happened\n", _table(CUSTOM, other))
    assert [f.id for f in findings] == ["weird-thing"]
    assert (findings[0].message, findings[0].fix) == ("Foo broke.", "do the fix")  # the longer signature speaks
    assert findings[0].evidence == ("FooBarBaz exploded", "Qux happened")
    assert set(findings[0].sources) == {"https://example.org/foo", "https://example.org/qux"}


@pytest.mark.parametrize("log, entry", [
    ("metal-plugin-abi-mismatch--tf220-library-not-loaded-pywrap.txt", "metal-1.2-tf-2.20-plus"),
    ("metal-plugin-abi-mismatch--tf218-symbol-not-found-logmessage.txt", "metal-1.1-tf-2.18-plus"),
    ("metal-plugin-abi-mismatch--tf25-assignupdatevariable.txt", None),
    ("metal-plugin-abi-mismatch--tf210-flat-namespace-vmoduleactivated.txt", None),
    ("metal-plugin-abi-mismatch--flat-namespace-tf-allocateoutput.txt", None),
])
def test_the_bundled_table_names_the_right_metal_pair(log, entry):
    """Each real Metal log gets the curated entry for its TF/plug-in pair, or the generic rule: a TF 2.20
    log must not be told to upgrade to the tensorflow-metal 1.2.0 it already has."""
    from tfsetup.recipes import load_recipes

    table = load_recipes()
    (finding,) = explain(_read(ERRORS / log), table)
    assert finding.id == "metal-plugin-abi-mismatch"
    if entry is None:
        assert "incompatible" not in finding.data
        assert finding.message == explain(_read(ERRORS / log))[0].message  # the built-in rule's
    else:
        curated = next(e for e in table.incompatible if e.id == entry)
        assert finding.data["incompatible"][0] == entry
        assert (finding.message, finding.fix) == (curated.message, curated.fix)


def test_old_protobuf_and_a_foreign_keras_2_get_their_own_explanations():
    (proto,) = explain(_read(ERRORS / "protobuf-mismatch--runtime-version-too-old.txt"))
    assert "older than the protobuf that generated" in proto.message  # too old, not the 4.x-too-new case
    (keras,) = explain(_read(ERRORS / "keras-mismatch--register-load-context-function.txt"))
    assert "built for another TensorFlow version" in keras.message and "tf-keras" in keras.fix


# ---------------------------------------------------------------------------------------------
# branches scripts/mutation.py found untested

def test_a_long_line_is_cut_to_400_characters_of_evidence():
    line = "AttributeError: _ARRAY_API not found " + "".join(f"{i:05d}" for i in range(400))
    (finding,) = explain(line)
    assert finding.evidence == (line[:400].rstrip() + " ...",)
    exact = line[:400]
    assert explain(exact)[0].evidence == (exact,)  # 400 characters still fit


def test_a_match_far_into_one_line_shows_the_4000_characters_before_it():
    text = "Q" + "x" * 4000 + "_ARRAY_API not found"  # one line: its 'line' reaches back 4000 characters
    (finding,) = explain(text)
    assert finding.evidence[0].startswith("xxx") and "Q" not in finding.evidence[0]
    (near,) = explain("Q" + "x" * 3999 + "_ARRAY_API not found")
    assert near.evidence[0].startswith("Qxx")


def test_with_host_rewrites_illegal_instruction_only_on_an_avx_linux_host():
    from dataclasses import replace

    from tests.conftest import host_fixture
    from tfsetup.doctor.explain import with_host

    text = "Illegal instruction (core dumped)\n"
    findings = explain(text)
    host = host_fixture("linux-x86_64-avx")
    (mine,) = with_host(findings, text, host)
    assert mine.message.startswith(findings[0].message.split(". ")[0] + ". This machine's CPU has AVX (avx")
    assert "faulthandler" in mine.fix
    assert with_host(findings, text, host_fixture("linux-x86_64-no-avx")) == findings
    mac_text = "zsh: illegal hardware instruction  python\n"  # a Mac's log pasted here: left as it is
    assert with_host(explain(mac_text), mac_text, host) == explain(mac_text)
    assert with_host(findings, text, replace(host, os="macos")) == findings


def test_equally_specific_table_entries_leave_the_first_one_speaking():
    first = Incompatible(id="w-1", finding="weird-thing", when={}, signatures=("Aaa",), message="first.",
                         fix="fix one", sources=("https://example.org/1",))
    second = Incompatible(id="w-2", finding="weird-thing", when={}, signatures=("Bbb",), message="second.",
                          fix="fix two", sources=("https://example.org/2",))
    (finding,) = explain("Aaa\nBbb\n", _table(first, second))
    assert (finding.message, finding.fix) == ("first.", "fix one")
    assert finding.sources == ("https://example.org/1", "https://example.org/2")


def test_no_matching_distribution_lists_up_to_four_versions_then_the_range():
    def message(versions: str) -> str:
        (finding,) = explain("ERROR: Could not find a version that satisfies the requirement tensorflow==2.1.0 "
                             f"(from versions: {versions})\nERROR: No matching distribution found for "
                             "tensorflow==2.1.0\n")
        return finding.message

    assert "pip only sees 2.16.1, 2.16.2, 2.17.0, 2.17.1." in message("2.16.1, 2.16.2, 2.17.0, 2.17.1")
    assert "pip only sees 2.16.1 ... 2.18.0." in message("2.16.1, 2.16.2, 2.17.0, 2.17.1, 2.18.0")


def test_rosetta_arm64_against_arm64e_is_not_called_rosetta():
    (finding,) = explain("(mach-o file, but is an incompatible architecture (have 'arm64', need 'arm64e'))")
    assert "wrong CPU architecture" in finding.message


def test_unsupported_wheel_reads_linux_and_intel_mac_platforms():
    (linux,) = explain("ERROR: tensorflow-2.15.0-cp311-cp311-manylinux_2_17_x86_64.whl is not a supported "
                       "wheel on this platform.\n")
    assert "its tags (cp311-cp311-manylinux_2_17_x86_64) do not match this interpreter" in linux.message
    (mac,) = explain("ERROR: tensorflow-2.15.0-cp311-cp311-macosx_10_15_x86_64.whl is not a supported "
                     "wheel on this platform.\n")
    assert "it needs macosx_10_15_x86_64 but this Python is arm64" in mac.message


def test_a_pattern_is_tried_on_its_first_1000_occurrences_only():
    noise = "loading libmetal_plugin.dylib\n"  # the pattern, on lines the rule's line filter rejects
    real = "dlopen(libmetal_plugin.dylib): Symbol not found: _TF_Foo\n"
    assert [f.id for f in explain(noise * 999 + real)] == ["metal-plugin-abi-mismatch"]
    assert explain(noise * 1000 + real) == []  # a log repeating a line thousands of times stays fast


def test_a_silent_sigill_is_judged_by_the_rest_of_stderr():
    (finding,) = explain_exit(-4, "  File \"/Users/me/train.py\", line 1, in <module>\n")
    assert "This looks like a Mac" in finding.message


def test_a_wheel_name_at_the_very_start_or_300_characters_back_is_read_whole():
    (start,) = explain("tensorflow-2.15.0-cp311-cp311-manylinux_2_17_x86_64.whl is not a supported wheel on this "
                       "platform.\n")
    assert "The wheel tensorflow-2.15.0-cp311-cp311-manylinux_2_17_x86_64.whl (tensorflow 2.15.0)" in start.message
    (far,) = explain("Z" + "a" * 300 + ".whl is not a supported wheel on this platform.\n")
    assert "pip refused " + "a" * 300 + ".whl" in far.message and "Z" not in far.message  # looks back 300


def test_the_library_dlerror_names_is_read_within_200_characters():
    name = "L" * 189
    (finding,) = explain("Could not load dynamic library 'libcudart.so.11.0'; dlerror: " + name + "Q: cannot open\n")
    assert name in finding.message and name + "Q" not in finding.message


def test_a_one_character_table_signature_still_speaks_over_the_builtin_rule():
    entry = Incompatible(id="one", finding="numpy-abi-mismatch", when={}, signatures=("_",), message="one.",
                         fix="fix one", sources=("https://example.org/1",))
    (finding,) = explain("AttributeError: _ARRAY_API not found\n", _table(entry))
    assert (finding.message, finding.fix) == ("one.", "fix one")


def test_libprotobuf_clash_names_both_versions_and_whose_code_failed():
    (tf,) = explain(_read(ERRORS / "libprotobuf-version-clash--tf-tensor-shape-compiled-against-392-installed-3181.txt"))
    assert "TensorFlow's own generated code" in tf.message and "3.9.2" in tf.message and "3.18.1" in tf.message
    assert tf.evidence[0].startswith("[libprotobuf FATAL") and tf.severity == "error"
    (old,) = explain(_read(ERRORS / "libprotobuf-version-clash--jetson-tf-requires-350-installed-261.txt"))
    assert "3.5.0" in old.message and "2.6.1" in old.message and "TensorFlow's own" in old.message
    (cv,) = explain(_read(ERRORS / "libprotobuf-version-clash--opencv-caffe-pb-compiled-against-351.txt"))
    assert "another library (opencv-caffe.pb.cc)" in cv.message and "3.15.6" in cv.message
    assert "import tensorflow before" in tf.fix
    # A log cut after the sentence's start still names the class, without versions or file.
    (cut,) = explain("[libprotobuf FATAL google/protobuf/stubs/common.cc:61] This program requires version 3.5.0 "
                     "of the Protocol Buffer runtime")
    assert "code built against one libprotobuf version found another already loaded" in cut.message


@pytest.mark.parametrize("line", [
    "[libprotobuf WARNING google/protobuf/io/coded_stream.cc:81] The total number of bytes read was 553206116",
    "[libprotobuf ERROR google/protobuf/src/google/protobuf/io/coded_stream.cc:207] A protocol message was "
    "rejected because it was too big (more than 67108864 bytes).",
    "[libprotobuf FATAL google/protobuf/generated_message_util.cc:794] CHECK failed: (scc->visit_status.load())",
    "terminate called after throwing an instance of 'google::protobuf::FatalException'",
])
def test_other_libprotobuf_lines_are_not_the_version_clash(line):
    assert [f.id for f in explain(line)] == []
