"""The OpenAPI spec is valid, and the generated models match a fresh generation."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "openapi" / "contacts.yaml"
GENERATED = Path("billabex_async") / "_generated" / "models.py"


def test_the_spec_is_valid_openapi_3_1() -> None:
    spec, _ = read_from_filename(str(SPEC))
    validate(spec)
    assert spec["openapi"].startswith("3.1")


def test_the_spec_describes_the_contacts_endpoints_and_status() -> None:
    spec, _ = read_from_filename(str(SPEC))
    paths = spec["paths"]
    operations = {
        (method.upper(), path)
        for path, item in paths.items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    assert operations == {
        ("GET", "/status"),
        ("GET", "/accounts/{accountId}/contacts"),
        ("POST", "/accounts/{accountId}/contacts"),
        ("PUT", "/accounts/{accountId}/contacts/upsert"),
        ("GET", "/accounts/{accountId}/contacts/{contactId}"),
        ("PATCH", "/accounts/{accountId}/contacts/{contactId}"),
        ("PUT", "/accounts/{accountId}/contacts/{contactId}"),
        ("DELETE", "/accounts/{accountId}/contacts/{contactId}"),
    }
    language = spec["components"]["schemas"]["ContactCreate"]["properties"]["language"]
    assert language["pattern"] == "^[a-z]{2}$"
    assert "enum" not in language


def _copy_codegen_tree(dest: Path) -> None:
    for name in ("codegen", "openapi"):
        shutil.copytree(ROOT / name, dest / name)
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    (dest / GENERATED).parent.mkdir(parents=True)
    shutil.copy(ROOT / GENERATED, dest / GENERATED)


def _codegen_check(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(tree / "codegen" / "regen.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=tree,
        check=False,
    )


def test_codegen_check_passes_then_catches_a_hand_edit(tmp_path: Path) -> None:
    _copy_codegen_tree(tmp_path)
    clean = _codegen_check(tmp_path)
    assert clean.returncode == 0, clean.stdout + clean.stderr

    models = tmp_path / GENERATED
    models.write_text(models.read_text().replace("class Contact:", "class Contact:  # tweak"))
    edited = _codegen_check(tmp_path)
    assert edited.returncode == 1
    assert "differs from a fresh generation" in edited.stderr
    assert "# tweak" in edited.stdout  # the diff shows the hand edit


def test_codegen_needs_no_lint_autofix(tmp_path: Path) -> None:
    # With every lint rule off, only the formatter runs: the templates alone
    # must give the committed form (None last in unions, imports grouped).
    _copy_codegen_tree(tmp_path)
    (tmp_path / "ruff.toml").write_text("line-length = 100\n\n[lint]\nselect = []\n")
    clean = _codegen_check(tmp_path)
    assert clean.returncode == 0, clean.stdout + clean.stderr


def test_schemas_without_a_call_are_not_generated() -> None:
    from billabex_async._generated import models

    assert not hasattr(models, "Status")
    assert not hasattr(models, "Error")
    assert hasattr(models, "ContactPage")
