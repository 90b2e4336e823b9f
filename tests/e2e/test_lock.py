"""The locks install.sh installs from: every dependency pinned, with hashes, the two locks agreeing."""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.paths import REPO

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^ ;\\]+)")


def pins(name: str) -> dict[str, tuple[str, int]]:
    """Return {package: (version, number of hashes)} of a lock file."""
    found: dict[str, tuple[str, int]] = {}
    current = None
    for line in (REPO / "requirements" / name).read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            found[current] = (match.group(2), 0)
        elif current is not None and line.strip().startswith("--hash=sha256:"):
            version, hashes = found[current]
            found[current] = (version, hashes + 1)
    return found


def names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(text).name) for text in requirements}


def test_every_dependency_is_pinned_with_its_hashes() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    # pip too: install.sh installs the locked pip first
    runtime = names(project["project"]["dependencies"]) | names(project["build-system"]["requires"]) | {"pip"}
    dev = names(project["dependency-groups"]["dev"])
    lock, dev_lock = pins("lock.txt"), pins("dev-lock.txt")
    assert runtime <= set(lock), f"not in requirements/lock.txt (run scripts/lock): {sorted(runtime - set(lock))}"
    missing = (runtime | dev) - set(dev_lock)
    assert not missing, f"not in requirements/dev-lock.txt (run scripts/lock): {sorted(missing)}"
    for name, (_, hashes) in {**lock, **dev_lock}.items():
        assert hashes > 0, f"{name}: pinned without a hash"
    # One set of versions: what the tests ran with is what a plain install gets.
    assert {name: version for name, (version, _) in lock.items()} == {
        name: dev_lock[name][0] for name in lock}


def test_the_dev_tools_are_declared_once() -> None:
    # install.sh installs them from the lock; --latest from [dependency-groups] dev. An extra of
    # the same name would be a second list to keep in step.
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "dev" not in project["project"].get("optional-dependencies", {})
