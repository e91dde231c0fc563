"""Tests of the saved framework: deterministic JSON, round trip, and clear errors on bad files."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from result_protocol import check_escaped, check_protocol

from milestone_discovery.errors import MilestoneError
from milestone_discovery.framework import SCHEMA_VERSION, Framework, clean_json


def make_framework(**overrides) -> Framework:
    """A small framework holding the awkward values a real study produces (numpy types, NaN)."""
    fields = dict(
        as_of="2025-06-30",
        observation_days=np.int64(180),
        horizon_days=365,
        seed=np.int32(7),
        features=[
            {
                "feature": "inbox",
                "category": "channels",
                "status": "selected",
                "prevalence": np.float64(0.3123456789),
                "importance": np.float32(0.0125),
                "lift": 1.4,
                "adj_or_low": np.nan,
            },
            {
                "feature": "bots",
                "category": "automation",
                "status": "selected",
                "prevalence": 0.25,
                "importance": 0.02,
                "lift": np.float64(1.8),
                "adj_or_low": 1.1,
            },
            {
                "feature": "sms",
                "category": "channels",
                "status": "dropped_niche",
                "prevalence": 0.01,
                "importance": None,
                "lift": np.inf,
                "adj_or_low": None,
            },
        ],
        maturity={
            "categories": [
                {
                    "name": "channels",
                    "features": ["inbox"],
                    "min_features": np.int64(1),
                    "min_features_ci": (1, 1),
                },
                {"name": "automation", "features": ["bots"], "min_features": 1},
            ],
            "min_categories": 2,
            "share_mature": np.float64(0.1),
        },
        activation={
            "metric": "conversations",
            "window_days": 90,
            "threshold": 60.0,
            "threshold_ci": np.array([57.0, 63.0]),
            "lift": 1.32,
        },
        utilization={
            "metric": "resolved_conversations",
            "per_seat_threshold": 8.0634920634920633,
            "per_seat_threshold_ci": [5.2, 8.1],
        },
        setup={
            "window_days": 30,
            "steps": ["invite_team"],
            "min_steps": 1,
            "dropped": [{"step": "upload_logo", "reason": "routine"}],
        },
        data={"kind": "tables", "accounts": 8, "flag": np.bool_(True)},
        model={"n_accounts": 5},
    )
    fields.update(overrides)
    return Framework(**fields)


# ----------------------------------------------------------------------------- clean_json
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (np.nan, None),
        (float("inf"), None),
        (-np.inf, None),
        (np.float64(0.1234567891), 0.123457),
        (np.float32(0.1), 0.1),
        (1 / 3, 0.333333),
        (-1e-9, 0.0),  # rounds to zero: never "-0.0"
        (np.int64(3), 3),
        (np.int8(-2), -2),
        (np.bool_(False), False),
        (True, True),
        (None, None),
        ("text", "text"),
        (pd.NaT, None),
        (pd.Timestamp("2025-06-30"), "2025-06-30T00:00:00"),
        (dt.date(2025, 6, 30), "2025-06-30"),
        (np.array([1.0, np.nan, 2.1234567]), [1.0, None, 2.123457]),
        ((1, np.int64(2)), [1, 2]),
        ({1: np.float64(0.5), "k": [np.nan]}, {"1": 0.5, "k": [None]}),
    ],
)
def test_clean_json_values(value, expected):
    out = clean_json(value)
    assert out == expected
    assert type(out) is type(expected)
    json.dumps(out, allow_nan=False)  # always serialisable


def test_clean_json_negative_zero_is_written_as_zero():
    assert json.dumps(clean_json({"x": -0.0, "y": -4e-7})) == '{"x": 0.0, "y": 0.0}'


def test_clean_json_keeps_nested_key_order():
    assert list(clean_json({"b": 1, "a": {"d": 1, "c": 2}})) == ["b", "a"]
    assert list(clean_json({"b": 1, "a": {"d": 1, "c": 2}})["a"]) == ["d", "c"]


# ----------------------------------------------------------------------------- JSON
def test_to_json_is_deterministic_and_valid():
    fw = make_framework()
    text = fw.to_json()
    assert text == fw.to_json()
    assert text == make_framework().to_json()  # a fresh but equal framework: same bytes
    assert text.endswith("}\n")
    data = json.loads(text)
    assert data["schema_version"] == SCHEMA_VERSION == 2
    assert list(data)[:5] == ["schema_version", "as_of", "observation_days", "horizon_days", "seed"]
    assert data["features"][0]["prevalence"] == 0.312346
    assert data["features"][0]["adj_or_low"] is None
    assert data["features"][2]["lift"] is None  # inf is not JSON
    assert data["utilization"]["per_seat_threshold"] == 8.063492
    assert data["activation"]["threshold_ci"] == [57.0, 63.0]
    assert data["data"]["flag"] is True
    assert "NaN" not in text and "Infinity" not in text


def test_round_trip_through_text_and_file(tmp_path):
    fw = make_framework()
    path = tmp_path / "framework.json"
    text = fw.to_json(path)
    assert path.read_text(encoding="utf-8") == text
    for again in (
        Framework.from_json(path),
        Framework.from_json(str(path)),
        Framework.from_text(text),
    ):
        assert again.to_dict() == fw.to_dict()
        assert again.to_json() == text  # a reloaded framework writes the same bytes
    again = Framework.from_json(path)
    assert again.selected_features == ["inbox", "bots"]
    assert again.categories == {
        "channels": {"features": ["inbox"], "min_features": 1},
        "automation": {"features": ["bots"], "min_features": 1},
    }
    assert again.min_categories == 2
    assert again.features_frame()["feature"].tolist() == ["inbox", "bots", "sms"]


def test_optional_sections_round_trip_as_null():
    fw = make_framework(activation=None, utilization=None, setup=None, validation=None)
    data = json.loads(fw.to_json())
    assert data["activation"] is None and data["utilization"] is None and data["setup"] is None
    again = Framework.from_text(fw.to_json())
    assert again.activation is None and again.setup is None


def test_non_ascii_names_are_kept_readable():
    fw = make_framework(features=[{"feature": "réponses_auto", "status": "selected"}])
    text = fw.to_json()
    assert "réponses_auto" in text
    assert Framework.from_text(text).selected_features == ["réponses_auto"]


def test_unknown_keys_are_ignored_and_seed_defaults_to_zero():
    data = make_framework().to_dict()
    del data["seed"]
    data["added_by_a_newer_version"] = {"x": 1}
    fw = Framework.from_dict(data)
    assert fw.seed == 0
    assert "added_by_a_newer_version" not in fw.to_dict()


def test_repr_html_escapes_names_from_the_data():
    fw = make_framework(
        maturity={
            "categories": [{"name": "<script>x</script>", "features": ["a&b"], "min_features": 1}],
            "min_categories": 1,
        }
    )
    out = fw._repr_html_()
    assert "<script>" not in out and "&lt;script&gt;" in out and "a&amp;b" in out


@pytest.mark.parametrize("name", ["inbox", "bots", "channels"])
def test_result_protocol(name):
    fw = make_framework()
    check_protocol(fw)
    assert fw.to_frame()["feature"].tolist() == ["inbox", "bots", "sms"]
    figures = fw.summary().set_index("quantity")["value"]
    assert figures["features selected"] == 2 and figures["activation: conversations at least"] == 60
    check_escaped(fw, name)


# ----------------------------------------------------------------------------- errors
def _text(**changes) -> str:
    data = make_framework().to_dict()
    for key, value in changes.items():
        if value is ...:
            del data[key]
        else:
            data[key] = value
    return json.dumps(data)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            _text(schema_version=3),
            r"framework schema_version 3 is not supported \(this version reads 1 and 2; "
            r"a newer milestone_discovery may have written it\)",
        ),
        (_text(schema_version="1"), r"framework schema_version '1' is not supported"),
        (_text(schema_version=True), r"framework schema_version True is not supported"),
        (_text(schema_version=2.5), r"framework schema_version 2.5 is not supported"),
        (_text(schema_version=...), r"framework schema_version None is not supported"),
        (_text(features=...), r"framework is missing \['features'\]"),
        (
            _text(observation_days=..., maturity=...),
            r"framework is missing \['observation_days', 'maturity'\]",
        ),
        ('{"schema_version": 1,', "framework is not valid JSON"),
        ("{not json}", "framework is not valid JSON"),
    ],
)
def test_bad_framework_text_is_a_clear_error(text, match):
    with pytest.raises(MilestoneError, match=match):
        Framework.from_text(text)


def test_from_json_takes_a_path_not_text():
    with pytest.raises(MilestoneError, match="takes the path of a framework.json; .*from_text"):
        Framework.from_json(make_framework().to_json())


# ----------------------------------------------------------------------------- version 1
V1_KEYS = [
    "schema_version",
    "as_of",
    "observation_days",
    "horizon_days",
    "seed",
    "data",
    "model",
    "features",
    "maturity",
    "activation",
    "utilization",
    "setup",
    "validation",
]


def test_a_version_1_file_loads_with_the_later_sections_as_none(tmp_path):
    new = make_framework(
        covariates={"adjusted_for_in_features": "plan", "factors": []},
        survival={"skipped": "no dates"},
        validation={"temporal": {"skipped": "no dates"}},
    ).to_dict()
    old = {k: new[k] for k in V1_KEYS} | {"schema_version": 1}
    path = tmp_path / "framework.json"
    path.write_text(json.dumps(old), encoding="utf-8")
    fw = Framework.from_json(path)
    for name in ("covariates", "choices", "counts", "survival", "heterogeneity"):
        assert getattr(fw, name) is None
    assert fw.expansion is None and fw.sensitivity is None
    assert fw.validation == {"temporal": {"skipped": "no dates"}}
    assert fw.selected_features == ["inbox", "bots"] and fw.min_categories == 2
    data = fw.to_dict()  # saved again: the current version, every key written
    assert data["schema_version"] == SCHEMA_VERSION and list(data) == list(new)
    assert {k: data[k] for k in V1_KEYS if k != "schema_version"} == {
        k: new[k] for k in V1_KEYS if k != "schema_version"
    }


def test_a_version_1_file_of_the_last_1x_writer_keeps_its_later_sections():
    # the last writer of version 1 already wrote some later sections: they are read, not dropped
    data = make_framework(survival={"skipped": "no dates"}).to_dict() | {"schema_version": 1}
    assert Framework.from_dict(data).survival == {"skipped": "no dates"}


def test_a_version_1_file_without_seed_data_or_model_loads():
    data = {k: v for k, v in make_framework().to_dict().items() if k in V1_KEYS}
    for key in ("seed", "data", "model", "activation", "validation"):
        del data[key]
    fw = Framework.from_dict(data | {"schema_version": 1})
    assert (fw.seed, fw.data, fw.model, fw.activation) == (0, {}, {}, None)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ('{"schema_version": 1, "features": [', "framework is not valid JSON"),
        ("", "framework is not valid JSON"),
        (_text(schema_version=0), "framework schema_version 0 is not supported"),
    ],
)
def test_bad_framework_file_is_a_clear_error(tmp_path, content, match):
    path = tmp_path / "framework.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(MilestoneError, match=match):
        Framework.from_json(path)


@pytest.mark.parametrize(
    ("content", "kind"), [("[1, 2]", "list"), ('"framework"', "str"), ("null", "NoneType")]
)
def test_framework_file_that_is_not_a_json_object_is_a_clear_error(tmp_path, content, kind):
    path = tmp_path / "framework.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(MilestoneError, match=f"framework must be a JSON object, got {kind}$"):
        Framework.from_json(path)


@pytest.mark.parametrize("name", ["missing.json", "no_such_dir/framework.json"])
def test_missing_framework_file_is_a_clear_error(tmp_path, name):
    with pytest.raises(MilestoneError, match=r"framework file not found: .*" + name.split("/")[-1]):
        Framework.from_json(tmp_path / name)


def test_a_folder_is_not_a_framework_file(tmp_path):
    with pytest.raises(MilestoneError, match="framework file not found"):
        Framework.from_json(tmp_path)
