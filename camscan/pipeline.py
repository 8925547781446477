"""Evidence -> the finished device list: fusion, then policy. Shared by scan, passive and demo."""

from __future__ import annotations

from collections.abc import Iterable

from camscan.fingerprint.engine import Engine
from camscan.fusion import fuse
from camscan.model import Evidence, ScanInfo, ScanResult
from camscan.policy import apply_policy, load_regimes, select_regimes


def finish(
    evidence: Iterable[Evidence], engine: Engine, info: ScanInfo, policy: str | None
) -> ScanResult:
    regimes = select_regimes(policy, load_regimes())
    info.policy = [r.id for r in regimes]
    devices = fuse(evidence, engine)
    apply_policy(devices, regimes, engine.vendors)
    return ScanResult(info, devices)
