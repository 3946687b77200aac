import json

import pytest

from tfsetup.host.facts import FactsError, HostFacts, PythonInfo, Gpu, facts_from_json, load_facts_file


def test_round_trip():
    facts = HostFacts(os="macos", os_version="14.4.1", machine="arm64", cpu="Apple M1 Pro", rosetta=True,
                      gpus=[Gpu("apple", "Apple M1 Pro", cores=16)],
                      pythons=[PythonInfo("/usr/bin/python3", "3.9.6", archs=["x86_64", "arm64"], source="xcode")])
    doc = json.loads(facts.dumps())
    assert doc["schema"] == 1 and doc["gpus"] == [{"vendor": "apple", "name": "Apple M1 Pro", "cores": 16}]
    assert facts_from_json(doc) == facts


@pytest.mark.parametrize("doc, needle", [
    ([], "must be a JSON object"),
    ({"os": "macos"}, "missing key 'schema'"),
    ({"schema": 2, "os": "macos", "os_version": "1", "machine": "arm64"}, "unsupported schema 2"),
    ({"schema": 1, "os": "beos", "os_version": "1", "machine": "arm64"}, "'os' must be one of"),
    ({"schema": 1, "os": "macos", "os_version": "1", "machine": "ppc"}, "'machine' must be one of"),
    ({"schema": 1, "os": "macos", "os_version": 14, "machine": "arm64"}, "'os_version' must be str"),
    ({"schema": 1, "os": "macos", "os_version": "14", "machine": "arm64", "pythons": [{"executable": "x"}]},
     "pythons[0]: missing key 'version'"),
    ({"schema": 1, "os": "macos", "os_version": "14", "machine": "arm64",
      "pythons": [{"executable": "x", "version": "three", "archs": []}]}, "must look like 3.11.7"),
    ({"schema": 1, "os": "macos", "os_version": "14", "machine": "arm64", "pythons": [],
      "gpus": [{"vendor": "apple", "name": "x", "cores": "16"}]}, "'cores' must be int"),
    ({"schema": 1, "os": "macos", "os_version": "14", "machine": "arm64"}, "missing key 'pythons'"),
    ({"schema": 1, "os": "macos", "os_version": "fourteen", "machine": "arm64", "pythons": []},
     "'os_version' must be a macOS version"),
])
def test_schema_violations_name_the_key(doc, needle):
    with pytest.raises(FactsError) as info:
        facts_from_json(doc)
    assert needle in str(info.value)


def test_malformed_file(tmp_path):
    bad = tmp_path / "host.json"
    bad.write_text('{"schema": 1, ')
    with pytest.raises(FactsError, match="is not valid JSON"):
        load_facts_file(str(bad))
    with pytest.raises(FactsError, match="cannot read host file"):
        load_facts_file(str(tmp_path / "missing.json"))
