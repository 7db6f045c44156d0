"""Kubernetes JSON schemas for kubeconform, made from a real kube-apiserver's ``/openapi/v2`` document.

kubeconform normally downloads schemas generated from Kubernetes' OpenAPI document (the ``openapi2jsonschema``
format: one self-contained file per kind, ``<kind>-<group>-<version>.json``); that download site cannot be reached
from here. The API server the tests build serves the very document those files are made from, so this module does
the same conversion locally: every ``$ref`` inlined (a recursive reference becomes "anything"), ``IntOrString`` and
``Quantity`` as the JSON values they accept, ``kind``/``apiVersion`` pinned, and — strict, as ``kubeconform -strict``
expects — no property that the schema does not declare.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

SPECIAL = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"oneOf": [{"type": "string"}, {"type": "number"}]},
}


def _inline(node: Any, definitions: dict[str, Any], seen: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_inline(n, definitions, seen) for n in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/definitions/"):
        name = ref.split("/", 2)[2]
        if name in SPECIAL:
            return copy.deepcopy(SPECIAL[name])
        if name in seen:
            return {}
        return _inline(definitions[name], definitions, (*seen, name))
    out = {k: _inline(v, definitions, seen) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if out.get("format") == "int-or-string":
        out.pop("format")
        out.pop("type", None)
        out["oneOf"] = [{"type": "string"}, {"type": "integer"}]
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def kind_suffix(group: str, version: str) -> str:
    """kubeconform's ``{{ .KindSuffix }}``: ``-apps-v1``, ``-rbac-v1``, ``-v1`` for the core group."""
    return (f"-{group.split('.')[0].lower()}" if group else "") + f"-{version.lower()}"


def write_schemas(openapi: dict[str, Any], out: Path, kinds: set[str] | None = None) -> list[Path]:
    """One strict standalone schema per (group, version, kind) of ``openapi`` (only ``kinds`` when given)."""
    out.mkdir(parents=True, exist_ok=True)
    definitions = openapi["definitions"]
    written = []
    for name, definition in definitions.items():
        for gvk in definition.get("x-kubernetes-group-version-kind", []):
            kind, group, version = gvk["kind"], gvk.get("group", ""), gvk["version"]
            if kinds is not None and kind not in kinds:
                continue
            schema = _inline(definition, definitions, (name,))
            props = schema.setdefault("properties", {})
            props["kind"] = {"type": "string", "enum": [kind]}
            props["apiVersion"] = {"type": "string", "enum": [f"{group}/{version}" if group else version]}
            schema["$schema"] = "http://json-schema.org/schema#"
            path = out / f"{kind.lower()}{kind_suffix(group, version)}.json"
            path.write_text(json.dumps(schema), encoding="utf-8")
            written.append(path)
    return written
