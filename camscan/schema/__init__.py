"""The JSON Schema of the device list (DESIGN section 4), shipped in the package."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib.resources import files
from typing import Any

import fastjsonschema
import jsonschema

from camscan.errors import DeviceListError
from camscan.model import SCHEMA_ID, SCHEMA_VERSION


@lru_cache(maxsize=1)
def device_list_schema() -> dict[str, Any]:
    text = files("camscan.schema").joinpath("device-list.schema.json").read_text("utf-8")
    return json.loads(text)


@lru_cache(maxsize=1)
def _check() -> Any:
    """The schema compiled to Python code (fastjsonschema). Formats are not checked, as
    jsonschema does not check them by default either: both accept the same documents."""
    return fastjsonschema.compile(device_list_schema(), use_formats=False)


def schema_errors(doc: Any) -> list[str]:
    """Every way `doc` breaks the schema, as 'path: message' lines (empty when valid). The
    compiled check answers first; jsonschema, slower, words the errors of an invalid one."""
    try:
        _check()(doc)
        return []
    except fastjsonschema.JsonSchemaException:
        pass
    validator = jsonschema.Draft202012Validator(device_list_schema())
    out = []
    for err in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
        path = "/".join(str(p) for p in err.absolute_path) or "(top)"
        out.append(f"{path}: {err.message}")
    return out


def validate_device_list(doc: Any, name: str = "input") -> None:
    """Raise DeviceListError with a one-line reason unless doc is a valid device list."""
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA_ID:
        raise DeviceListError(f'{name}: not a camscan device list (no "schema": "{SCHEMA_ID}")')
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        raise DeviceListError(
            f"{name}: device list schema version {version!r}; this camscan reads {SCHEMA_VERSION}"
        )
    errors = schema_errors(doc)
    if errors:
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        raise DeviceListError(f"{name}: invalid device list: {errors[0]}{more}")
