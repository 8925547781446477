"""Policy: which regimes restrict a device, which known exploited firmware it runs, and how soon
it should be replaced.

    regimes.py   camscan/data/regimes.yaml -> Regime; --policy selection
    versions.py  firmware version strings -> comparable Firmware
    vulns.py     camscan/data/vulnerabilities.yaml -> VulnRule; matching a device's firmware
    assess.py    per-device evaluation (restricted_by, vulnerabilities, replacement)
    jsondoc.py   device-list JSON -> Device, for re-evaluating a saved list
    plan.py      the replacement plan and the price list
"""

from camscan.policy.assess import apply_policy, apply_policy_to_doc, assess_device, default_vendors
from camscan.policy.jsondoc import device_from_json
from camscan.policy.plan import PRIORITY_LABELS, Plan, PlanRow, build_plan, load_prices
from camscan.policy.regimes import Regime, load_regimes, select_regimes
from camscan.policy.versions import Firmware, parse_dahua, parse_hikvision
from camscan.policy.vulns import VulnRule, load_vulns

__all__ = [
    "PRIORITY_LABELS",
    "Firmware",
    "Plan",
    "PlanRow",
    "Regime",
    "VulnRule",
    "apply_policy",
    "apply_policy_to_doc",
    "assess_device",
    "build_plan",
    "default_vendors",
    "device_from_json",
    "load_prices",
    "load_regimes",
    "load_vulns",
    "parse_dahua",
    "parse_hikvision",
    "select_regimes",
]
