"""Real SWE-bench Lite instances (dev and test splits, as published: FAIL_TO_PASS/PASS_TO_PASS are JSON
strings) load, select by --ids and --slice, and every one has an environment recipe. Their repositories
are on GitHub and out of reach here, so nothing is run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rioagent.swe.instances import InstanceError, load_instances, parse_slice
from rioagent.swe.specs import SpecError, load_table, spec_for

DATA = Path("/work/shared/swebench")
FILES = [DATA / "swebench_lite_dev.json", DATA / "swebench_lite_test.json"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_published_instance_parses(path: Path) -> None:
    raw = json.loads(path.read_text())
    instances = load_instances(path)
    assert len(instances) == len(raw) > 0
    for inst, record in zip(instances, raw, strict=True):
        assert inst.instance_id == record["instance_id"]
        assert inst.fail_to_pass == json.loads(record["FAIL_TO_PASS"]) and inst.fail_to_pass
        assert inst.pass_to_pass == json.loads(record["PASS_TO_PASS"])
        # The files the test patch touches, read from its `diff --git` lines as SWE-bench's harness does,
        # hold every file the dataset lists (which leaves out empty new files and bare renames).
        assert set(record["test_patch_files"]) <= set(inst.test_files)
        assert all(f in inst.test_patch for f in inst.test_files)
        assert inst.patch.startswith("diff --git") and inst.base_commit == record["base_commit"]


def test_django_and_pytest_ids_decode_with_their_spaces() -> None:
    by_id = {i.instance_id: i for i in load_instances(FILES[1])}
    django = by_id["django__django-15202"]
    assert django.fail_to_pass[0].startswith("test_urlfield_clean_invalid (forms_tests.field_tests.")
    assert all("::" in t for i in by_id.values() if i.repo == "pytest-dev/pytest" for t in i.fail_to_pass)


def test_every_published_repo_and_version_has_a_recipe() -> None:
    table = load_table()
    missing = []
    for path in FILES:
        for inst in load_instances(path):
            try:
                spec = spec_for(inst.repo, inst.version, table)
            except SpecError as exc:
                missing.append(str(exc))
                continue
            assert spec.runner in ("pytest", "django", "sympy")
    assert missing == []


def test_ids_and_slices_select(tmp_path: Path) -> None:
    everything = load_instances(FILES[1])
    assert [i.instance_id for i in load_instances(FILES[1], part="0:50")] == [
        i.instance_id for i in everything[:50]
    ]
    assert len(load_instances(FILES[1], part="290:")) == 10
    picked = load_instances(FILES[1], ids=["sympy__sympy-20590", "django__django-15202"])
    assert [i.instance_id for i in picked] == ["django__django-15202", "sympy__sympy-20590"]  # file order
    with pytest.raises(InstanceError, match=r"no instance nope-1 \(check --ids\)"):
        load_instances(FILES[1], ids=["nope-1"])
    with pytest.raises(InstanceError, match="expected START:END"):
        parse_slice("ten")
    with pytest.raises(InstanceError, match="holds no instances"):
        load_instances(FILES[1], part="400:500")
    # JSON Lines and a dict keyed by id read the same as the published list.
    lines = tmp_path / "two.jsonl"
    lines.write_text("\n".join(json.dumps(i.to_dict()) for i in everything[:2]) + "\n")
    assert [i.instance_id for i in load_instances(lines)] == [i.instance_id for i in everything[:2]]
    keyed = tmp_path / "keyed.json"
    keyed.write_text(json.dumps({i.instance_id: i.to_dict() for i in everything[:2]}))
    assert load_instances(keyed)[1].fail_to_pass == everything[1].fail_to_pass


def test_bad_files_get_a_message_that_says_what_is_wrong(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('[{"instance_id": "a-1", "repo": "a/b"}]')
    with pytest.raises(InstanceError, match=r"bad.json\[0\]: missing base_commit"):
        load_instances(bad)
    bad.write_text('[{"instance_id": "a-1", "repo": "a/b", "base_commit": "x", "FAIL_TO_PASS": "[oops"}]')
    with pytest.raises(InstanceError, match="FAIL_TO_PASS is not a JSON list string"):
        load_instances(bad)
    with pytest.raises(InstanceError, match="cannot read it"):
        load_instances(tmp_path / "missing.json")
