"""camscan: find the cameras, NVRs and DVRs on a network, name who really made them, and flag
those covered by restriction regimes."""

__version__ = "0.1.0"
