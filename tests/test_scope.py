"""Targets, exclusions and the scope guard."""

import pytest

from camscan.errors import UsageError
from camscan.scope import build_scope, parse_target


def test_target_forms():
    assert [str(n) for n in parse_target("198.18.0.0/24")] == ["198.18.0.0/24"]
    assert [str(n) for n in parse_target("198.18.0.7")] == ["198.18.0.7/32"]
    assert [str(n) for n in parse_target("198.18.0.8-11")] == ["198.18.0.8/30"]
    assert sum(n.num_addresses for n in parse_target("198.18.0.250-198.18.1.5")) == 12


@pytest.mark.parametrize("bad", ["198.18.0.0/33", "banana", "198.18.0.9-3", "1.2.3", ""])
def test_malformed_targets_are_one_line_usage_errors(bad):
    with pytest.raises(UsageError) as exc:
        build_scope([bad])
    assert "\n" not in str(exc.value)


def test_public_targets_need_allow_public():
    with pytest.raises(UsageError, match="--allow-public"):
        build_scope(["8.8.8.0/30"])
    assert build_scope(["8.8.8.0/30"], allow_public=True).allows("8.8.8.1")


def test_exclude_always_wins():
    scope = build_scope(["198.18.0.0/29"], ["198.18.0.3", "198.18.0.4-5"])
    assert list(scope.addresses()) == ["198.18.0.1", "198.18.0.2", "198.18.0.6"]
    assert not scope.allows("198.18.0.4")
    assert not scope.allows("198.18.1.1")  # outside the targets


def test_max_hosts():
    with pytest.raises(UsageError, match="--max-hosts"):
        build_scope(["10.0.0.0/16"], max_hosts=1024)
