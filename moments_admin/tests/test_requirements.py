"""requirements.txt pins every direct requirement at the version requirements.in asks for."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _pins(name: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            package, _, version = line.partition("==")
            pins[package.strip().lower().replace("_", "-")] = version.strip()
    return pins


def test_every_direct_requirement_is_pinned_at_its_version():
    direct, locked = _pins("requirements.in"), _pins("requirements.txt")
    mismatched = {package: (version, locked.get(package)) for package, version in direct.items()
                  if locked.get(package) != version}  # fmt: skip
    assert mismatched == {}, "run `make lock` after editing requirements.in"
