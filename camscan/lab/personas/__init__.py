"""Device personas of the emulated office: data (YAML) describing what each lab device answers
on each protocol, plus its ground truth for the end-to-end tests.

    load_personas(path=None) -> list[Persona]      the bundled office.yaml when path is None
    load_personas(HOSTILE_PERSONAS)                hostile and broken devices (hostile.yaml)
    personas_from_data(data, source) / personas_from_json(text, source)
    generate_office(n, subnet, seed=0) -> list[Persona]   benchmark offices
"""

from __future__ import annotations

from camscan.lab.personas.generate import generate_office
from camscan.lab.personas.loader import (
    DEFAULT_PERSONAS,
    HOSTILE_PERSONAS,
    load_personas,
    personas_from_data,
    personas_from_json,
)
from camscan.lab.personas.model import Credentials, Persona
from camscan.lab.personas.schema import (
    DEVICE_TYPES,
    HOSTILE_MODES,
    PROTOCOL_BLOCKS,
    TRUTH_KEYS,
)

__all__ = [
    "DEFAULT_PERSONAS",
    "DEVICE_TYPES",
    "HOSTILE_MODES",
    "HOSTILE_PERSONAS",
    "PROTOCOL_BLOCKS",
    "TRUTH_KEYS",
    "Credentials",
    "Persona",
    "generate_office",
    "load_personas",
    "personas_from_data",
    "personas_from_json",
]
