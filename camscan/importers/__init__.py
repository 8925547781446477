"""Scans made by other tools, read into camscan evidence (and so into the same device list,
maker, relabel, regime and plan as a camscan scan): `camscan import nmap`."""
