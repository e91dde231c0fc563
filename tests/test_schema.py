"""The contract of framework.json: the packaged JSON Schema, `milestones schema`, version 1."""

from __future__ import annotations

import contextlib
import copy
import io
import json

import pytest
from jsonschema import Draft202012Validator

from milestone_discovery import Config
from milestone_discovery.cli import main
from milestone_discovery.features import STATUSES
from milestone_discovery.framework import SCHEMA_VERSION, Framework
from milestone_discovery.schema import (
    SHAPES,
    build_schema,
    load_schema,
    schema_text,
    validate_framework,
)
from milestone_discovery.study import discover
from milestone_discovery.synth import make_synthetic

#: Sections version 2 added: a version 1 file has none of them.
NEW_IN_V2 = ("covariates", "choices", "counts", "survival", "heterogeneity", "expansion")
NEW_IN_V2 += ("sensitivity",)


def run_cli(*argv: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(list(argv))
    return code, stdout.getvalue(), stderr.getvalue()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A small `discover` run: 900 accounts, one cross-fitting repeat, window sensitivity on."""
    root = tmp_path_factory.mktemp("schema_run")
    data = make_synthetic(900, seed=5, scenario="dominant").write(root / "data", fmt="csv")
    config = Config()
    config.features.n_repeats = 1
    config.sensitivity.enabled = True
    config.sensitivity.observation_days = [90, 180]
    config.sensitivity.horizon_days = [365]
    study = discover(data, root / "run", config, progress=False, report=False)
    return study, root / "run" / "framework.json"


@pytest.fixture(scope="module")
def written(run) -> dict:
    return json.loads(run[1].read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------- the schema
def test_packaged_schema_is_the_generated_one():
    # regenerate with `python -m milestone_discovery.schema` when a section changes
    assert schema_text() == json.dumps(build_schema(), indent=2, ensure_ascii=False) + "\n"
    assert load_schema() == build_schema()


def test_schema_is_draft_2020_12_of_the_current_version():
    schema = load_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["schema_version"] == {"const": SCHEMA_VERSION} == {"const": 2}
    assert schema["additionalProperties"] is False  # the top level is closed
    assert set(schema["required"]) == set(Framework(None, 1, 1, 0, [], {}).to_dict())


def test_enums_come_from_the_package():
    defs = load_schema()["$defs"]
    assert defs["feature"]["properties"]["status"]["enum"] == STATUSES
    assert defs["shape"]["enum"] == SHAPES == ["step", "gradual", "none"]


# ----------------------------------------------------------------------------- discover output
def test_discover_output_validates(run, written):
    study, _ = run
    assert written["schema_version"] == SCHEMA_VERSION
    assert validate_framework(written) == []
    assert validate_framework(study.framework.to_dict()) == []
    # the run exercised the open sections, not only their "skipped" form
    for section in ("survival", "heterogeneity", "expansion", "sensitivity"):
        assert "skipped" not in written[section], (section, written[section])
    assert written["activation"] and written["setup"] and written["covariates"]["factors"]


def test_cli_check_of_a_discover_output(run):
    code, out, err = run_cli("schema", "--check", str(run[1]))
    assert (code, err) == (0, "")
    assert "valid framework.json (schema_version 2)" in out


def test_a_reloaded_framework_still_validates(written):
    again = Framework.from_text(json.dumps(written))
    assert validate_framework(again.to_dict()) == []
    assert again.to_dict() == written


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (lambda d: d["features"][0].update(status="chosen"), "$.features[0].status", "is not one"),
        (lambda d: d["activation"].update(shape="bumpy"), "$.activation.shape", "'bumpy'"),
        (lambda d: d["maturity"].pop("categories"), "$.maturity", "'categories' is a required"),
        (lambda d: d.update(survival={"skipped": 3}), "$.survival.skipped", "not of type"),
        (lambda d: d.update(expansion={"skipped": "x", "n": 1}), "$.expansion", "'n' was unex"),
        (lambda d: d.update(extra=1), "$", "'extra' was unexpected"),
        (lambda d: d.update(seed=-1), "$.seed", "minimum"),
        (lambda d: d.update(horizon_days="365"), "$.horizon_days", "not of type 'integer'"),
        (lambda d: d["data"].update(kind="sheet"), "$.data.kind", "'sheet'"),
    ],
)
def test_an_invalid_file_names_the_path_of_each_error(written, tmp_path, change, path, message):
    data = copy.deepcopy(written)
    change(data)
    errors = validate_framework(data)
    assert [p for p, _ in errors] == [path]
    assert message in errors[0][1]
    file = tmp_path / "framework.json"
    file.write_text(json.dumps(data), encoding="utf-8")
    code, out, err = run_cli("schema", "--check", str(file))
    assert code == 2 and out == ""
    assert "1 error(s) against the framework schema" in err
    assert f"  {path}: " in err and message in err


def test_every_error_is_reported(written, tmp_path):
    data = copy.deepcopy(written)
    data["features"][1]["status"] = None
    data["setup"]["min_steps"] = 1.5
    del data["counts"]
    file = tmp_path / "framework.json"
    file.write_text(json.dumps(data), encoding="utf-8")
    code, _, err = run_cli("schema", "--check", str(file))
    assert code == 2 and "3 error(s)" in err
    for path in ("$: 'counts' is a required", "$.features[1].status:", "$.setup.min_steps:"):
        assert path in err


@pytest.mark.parametrize(("content", "match"), [("{not json", "is not valid JSON"), ("", "JSON")])
def test_check_of_a_file_that_is_not_json_is_a_user_error(tmp_path, content, match):
    file = tmp_path / "framework.json"
    file.write_text(content, encoding="utf-8")
    code, out, err = run_cli("schema", "--check", str(file))
    assert code == 2 and out == ""
    assert "milestones schema: error:" in err and match in err


def test_check_of_a_missing_file_is_a_user_error(tmp_path):
    code, _, err = run_cli("schema", "--check", str(tmp_path / "missing.json"))
    assert code == 2 and "cannot read the framework" in err


def test_cli_prints_the_schema():
    code, out, err = run_cli("schema")
    assert (code, err) == (0, "")
    assert json.loads(out) == load_schema()


# ----------------------------------------------------------------------------- version 1
def version_1(data: dict) -> dict:
    """A version 1 file as its writer made it: no later sections."""
    old = {k: v for k, v in data.items() if k not in NEW_IN_V2}
    old["schema_version"] = 1
    return old


def test_a_version_1_file_loads_and_upgrades(written, tmp_path):
    file = tmp_path / "framework.json"
    file.write_text(json.dumps(version_1(written), indent=2), encoding="utf-8")
    fw = Framework.from_json(file)
    assert all(getattr(fw, name) is None for name in NEW_IN_V2)
    assert fw.features == written["features"] and fw.maturity == written["maturity"]
    assert fw.selected_features and fw.activation == written["activation"]
    upgraded = fw.to_dict()
    assert upgraded["schema_version"] == SCHEMA_VERSION
    assert validate_framework(upgraded) == []  # saving it writes a valid version 2 file


def test_a_version_1_file_is_reported_as_older_by_check(written, tmp_path):
    file = tmp_path / "framework.json"
    file.write_text(json.dumps(version_1(written)), encoding="utf-8")
    code, _, err = run_cli("schema", "--check", str(file))
    assert code == 2
    assert "$.schema_version: 2 was expected: a version 1 file still loads" in err
    assert "'covariates' is a required property" in err
