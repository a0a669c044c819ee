"""The dependency rules of DESIGN.md §2, checked on the source."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP_PACKAGES = ["moments_admin", "common", "staff", "campaigns", "analytics", "wecom"]


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _sources(package: str, *, skip_tests: bool = True):
    for path in (ROOT / package).rglob("*.py"):
        if skip_tests and ("tests" in path.parts or path.name == "conftest.py"):
            continue
        yield path


def test_no_application_code_imports_the_sandbox():
    offenders = [
        str(path.relative_to(ROOT))
        for package in APP_PACKAGES
        for path in _sources(package)
        if "sandbox" not in path.relative_to(ROOT).parts
        and any(name.startswith("wecom.sandbox") or name == "wecom.sandbox" for name in _imports(path))
    ]
    assert offenders == [], "production code reaches the sandbox only over HTTP"


def test_the_wecom_package_imports_none_of_our_apps():
    """``common`` (domain-free helpers) is the one shared package it may use."""
    ours = ("staff", "campaigns", "analytics", "moments_admin")
    offenders = [
        str(path.relative_to(ROOT))
        for path in _sources("wecom")
        if any(name.split(".")[0] in ours for name in _imports(path))
    ]
    assert offenders == []


def test_common_imports_none_of_our_apps():
    ours = ("staff", "campaigns", "analytics", "moments_admin", "wecom")
    offenders = [
        str(path.relative_to(ROOT))
        for path in _sources("common")
        if any(name.split(".")[0] in ours for name in _imports(path))
    ]
    assert offenders == []
