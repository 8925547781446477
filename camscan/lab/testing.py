"""pytest helpers for tests that need the lab (pytest is imported only when a test skips)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import Any

from camscan.lab.netns import Lab, lab_available
from camscan.lab.topology import LabHost


def lab_skip_reason() -> str | None:
    """None when this process can build a lab; otherwise why not, in one line."""
    ok, why = lab_available()
    if not ok:
        return f"no lab here: {why}"
    if os.geteuid() != 0:
        return (
            "the lab needs root; run the tests inside a user namespace: "
            "python -m camscan.lab.unpriv python -m pytest ..."
        )
    return None


@contextlib.contextmanager
def lab_or_skip(hosts: Sequence[LabHost], **lab_kwargs: Any) -> Iterator[Lab]:
    """A lab that is up for the body and torn down after it; skips the test when impossible."""
    reason = lab_skip_reason()
    if reason is not None:
        import pytest

        pytest.skip(reason)
    with Lab(hosts, **lab_kwargs) as lab:
        yield lab
