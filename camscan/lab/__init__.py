"""The emulated office LAN in Linux network namespaces (see `camscan.lab.netns`)."""

from camscan.lab.netns import Lab, lab_available
from camscan.lab.state import cleanup_stale
from camscan.lab.topology import LabHost

__all__ = ["Lab", "LabHost", "cleanup_stale", "lab_available"]
