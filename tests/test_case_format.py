"""The case format as documented (docs/case-format.md, docs/schemas/) against the loader and real cases.

The schemas must accept every case faultline itself writes (the demo, generated scenarios) and every example of the
document, and refuse what the loader refuses; the CLI help, the OpenAPI text and the README must point to the page.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from benchmarks.scenarios import FAULTS, CaseSpec, generate, write_case
from correlators.case_files import parse_changes, parse_incident
from detectors.case_files import parse_events
from topology.case_files import parse_topology
from topology.exceptions import CaseFormatError

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "case-format.md"
SCHEMAS = ROOT / "docs" / "schemas"
FILES = ("topology", "incident", "changes", "events", "metrics_meta", "truth")
PARSERS = {"topology": parse_topology, "incident": parse_incident, "changes": parse_changes, "events": parse_events}


def validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def assert_valid(name: str, document: object) -> None:
    errors = sorted(validator(name).iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, f"{name}: " + "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])


def case_documents(case_dir: Path) -> dict[str, object]:
    return {name: json.loads((case_dir / f"{name}.json").read_text(encoding="utf-8"))
            for name in FILES if (case_dir / f"{name}.json").exists()}


@pytest.mark.parametrize("name", FILES)
def test_schemas_are_valid_json_schema(name: str) -> None:
    validator(name)


def test_the_demo_case_matches_the_schemas(tmp_path: Path) -> None:
    from api.demo import build_demo_case

    documents = case_documents(build_demo_case(tmp_path).case_dir)
    assert {"topology", "incident", "changes", "events"} <= set(documents)
    for name, document in documents.items():
        assert_valid(name, document)


@pytest.mark.parametrize("fault", FAULTS)
def test_generated_cases_match_the_schemas(tmp_path: Path, fault: str) -> None:
    case_dir = write_case(generate(CaseSpec(seed=3, fault=fault, entities=60)), tmp_path / fault)
    documents = case_documents(case_dir)
    assert {"topology", "incident", "changes", "events", "truth"} <= set(documents)
    for name, document in documents.items():
        assert_valid(name, document)


def doc_examples() -> list[tuple[str, object]]:
    """(file, document) for every JSON code block under a ``## <file>.json`` heading of the page."""
    examples, section = [], None
    for part in re.split(r"^(## .*)$", DOC.read_text(encoding="utf-8"), flags=re.MULTILINE):
        heading = re.match(r"## (\w+)\.json$", part.strip())
        if part.startswith("## "):
            section = heading.group(1) if heading else None
            continue
        if section in FILES:
            examples += [(section, json.loads(block)) for block in re.findall(r"```json\n(.*?)```", part, re.DOTALL)]
    return examples


def test_every_file_section_has_an_example() -> None:
    assert {name for name, _ in doc_examples()} == set(FILES)


@pytest.mark.parametrize("name, document", doc_examples(), ids=lambda v: v if isinstance(v, str) else "")
def test_the_documents_examples_are_valid_and_load(name: str, document: object) -> None:
    assert_valid(name, document)
    if name in PARSERS:
        PARSERS[name](document)


@pytest.mark.parametrize("name, document", [
    ("topology", {"entities": [{"id": "app:a", "kind": "app", "colour": "red"}]}),
    ("topology", {"entities": [{"id": "nocolon"}]}),
    ("topology", {"entities": [{"id": "app:a"}, {"id": "app:b"}], "relations": [{"src": "app:a", "kind": "LIKES", "dst": "app:b"}]}),
    ("incident", {"symptom": "app:a"}),
    ("incident", {"symptom": "app:a", "at": 1_700_000_000, "lookback": "forever"}),
    ("changes", [{"entity": "app:a", "kind": "rollout"}]),
    ("events", {"entity": "pod:a", "reason": "OOMKilled", "at": 0}),
])
def test_what_the_loader_refuses_the_schema_refuses(name: str, document: object) -> None:
    with pytest.raises(CaseFormatError):
        PARSERS[name](document)
    assert list(validator(name).iter_errors(document)), "the schema accepted a document the loader refuses"


@pytest.mark.parametrize("document", [
    {"cpu": {"role": "busy"}}, {"cpu": {"unit": "percent"}}, {"cpu": {"role": "saturation", "direction": "sideways"}},
])
def test_metrics_meta_schema_refuses_unknown_roles_and_directions(document: object) -> None:
    assert list(validator("metrics_meta").iter_errors(document))


def test_cli_openapi_and_readme_point_to_the_page(capsys: pytest.CaptureFixture[str]) -> None:
    from api.cli import main
    from api.schemas.insights import InlineCase

    for argv in (["--help"], ["analyze", "--help"], ["case", "convert", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        help_text = capsys.readouterr().out
        assert "docs/case-format.md" in help_text and "CASE_FORMAT.md" not in help_text, argv
    assert "docs/case-format.md" in (InlineCase.model_json_schema().get("description") or "")
    assert "(docs/case-format.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
