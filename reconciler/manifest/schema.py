"""The manifest JSON Schema: one file, shipped in the package and linked from schemas/."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

import jsonschema

SCHEMA_RESOURCE = "manifest.schema.json"


def schema_text() -> str:
    return resources.files("reconciler").joinpath("schemas", SCHEMA_RESOURCE).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    return json.loads(schema_text())


@lru_cache(maxsize=1)
def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema())
