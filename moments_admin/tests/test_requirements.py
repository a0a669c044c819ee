"""The locks pin every direct requirement at the version its .in file asks for, with hashes; production's lock
(requirements.txt) holds no test tool, and the dev lock agrees with it on every package they share."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEST_TOOLS = {"pytest", "pytest-django", "pytest-cov", "pytest-playwright", "playwright", "schemathesis", "hypothesis",
              "ruff", "model-bakery"}  # fmt: skip


def _pins(name: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#")[0].strip().rstrip("\\").strip()
        if line and not line.startswith(("-", "--")):
            package, _, version = line.partition("==")
            package = package.partition("[")[0]  # psycopg[binary] in an .in file, psycopg in its lock (--strip-extras)
            pins[package.strip().lower().replace("_", "-")] = version.strip()
    return pins


def _unhashed(name: str) -> list[str]:
    """Pinned lines not followed by a --hash (pip's --require-hashes refuses them)."""
    lines = (ROOT / name).read_text().splitlines()
    return [line for i, line in enumerate(lines) if "==" in line and not line.startswith("#")
            and not (i + 1 < len(lines) and "--hash=sha256:" in lines[i + 1])]  # fmt: skip


def test_every_direct_requirement_is_pinned_at_its_version():
    for source, lock in (("requirements.in", "requirements.txt"), ("requirements-dev.in", "requirements-dev.txt")):
        direct, locked = _pins(source), _pins(lock)
        mismatched = {package: (version, locked.get(package)) for package, version in direct.items()
                      if locked.get(package) != version}  # fmt: skip
        assert mismatched == {}, f"run `make lock` after editing {source}"


def test_the_locks_have_hashes_and_production_installs_no_test_tool():
    assert _unhashed("requirements.txt") == [] and _unhashed("requirements-dev.txt") == []
    assert TEST_TOOLS & set(_pins("requirements.txt")) == set()
    runtime, dev = _pins("requirements.txt"), _pins("requirements-dev.txt")
    assert {p: (v, dev[p]) for p, v in runtime.items() if p in dev and dev[p] != v} == {}
