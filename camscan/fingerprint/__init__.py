"""Fingerprint rules (data in fingerprints/) and the engine that applies them."""

from camscan.fingerprint.engine import Engine, best_claim, mac_registrant

__all__ = ["Engine", "best_claim", "mac_registrant"]
