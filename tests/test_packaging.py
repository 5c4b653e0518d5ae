"""The package's metadata, license, changelog and README tell the truth on an index.

`make dist` builds the real archives and runs tests/check_dist.py over them;
here the same check runs on small archives written by the test, so every rule
is shown to fail on what it forbids without building anything.
"""

from __future__ import annotations

import io
import re
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

from . import check_dist

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
VERSION = PROJECT["version"]
REPOSITORY = "https://github.com/billabex/billabex-async"
DIST_INFO = f"billabex_async-{VERSION}.dist-info"
GOOD_WHEEL = [
    *check_dist.WHEEL_REQUIRED,
    "billabex_async/testing/__init__.py",
    f"{DIST_INFO}/METADATA",
    f"{DIST_INFO}/licenses/LICENSE",
    f"{DIST_INFO}/RECORD",
]
GOOD_METADATA = (
    f"Metadata-Version: 2.4\nName: billabex-async\nVersion: {VERSION}\n"
    f"License-Expression: MIT\nProject-URL: Homepage, {REPOSITORY}\n"
)


def test_a_wheel_of_the_package_alone_passes() -> None:
    assert check_dist.wheel_problems(GOOD_WHEEL, GOOD_METADATA, VERSION) == []


@pytest.mark.parametrize(
    "extra",
    ["tests/test_client.py", "bench/__main__.py", "examples/demo.py", "codegen/regen.py"],
)
def test_a_wheel_carrying_anything_beside_the_package_fails(extra: str) -> None:
    problems = check_dist.wheel_problems([*GOOD_WHEEL, extra], GOOD_METADATA, VERSION)
    assert problems == [f"wheel: {extra} is not part of the package"]


def test_a_test_package_inside_the_package_fails() -> None:
    names = [*GOOD_WHEEL, "billabex_async/tests/test_x.py"]
    problems = check_dist.wheel_problems(names, GOOD_METADATA, VERSION)
    assert problems == ["wheel: billabex_async/tests/test_x.py is a test module"]


def test_a_wheel_without_its_typing_marker_or_license_fails() -> None:
    names = [n for n in GOOD_WHEEL if not n.endswith(("py.typed", "LICENSE"))]
    assert check_dist.wheel_problems(names, GOOD_METADATA, VERSION) == [
        "wheel: missing billabex_async/py.typed",
        f"wheel: missing {DIST_INFO}/licenses/LICENSE",
    ]


def test_a_wheel_without_the_license_expression_or_urls_fails() -> None:
    metadata = f"Metadata-Version: 2.4\nName: billabex-async\nVersion: {VERSION}\n"
    assert check_dist.wheel_problems(GOOD_WHEEL, metadata, VERSION) == [
        "wheel: License-Expression is None",
        "wheel: no Project-URL",
    ]


def _write_dist(dist: Path, wheel_names: list[str], sdist_names: list[str]) -> None:
    stem = f"billabex_async-{VERSION}"
    with zipfile.ZipFile(dist / f"{stem}-py3-none-any.whl", "w") as wheel:
        for name in wheel_names:
            wheel.writestr(name, GOOD_METADATA if name.endswith("/METADATA") else "")
    with tarfile.open(dist / f"{stem}.tar.gz", "w:gz") as sdist:
        for name in sdist_names:
            sdist.addfile(tarfile.TarInfo(f"{stem}/{name}"), io.BytesIO(b""))


def test_the_check_reads_both_archives_from_the_dist_folder(tmp_path: Path) -> None:
    _write_dist(tmp_path, GOOD_WHEEL, [*check_dist.SDIST_REQUIRED, "tests/test_x.py"])
    assert check_dist.check(tmp_path) == []
    assert check_dist.main([str(tmp_path)]) == 0

    (tmp_path / f"billabex_async-{VERSION}.tar.gz").unlink()
    _write_dist(tmp_path, [*GOOD_WHEEL, "tests/conftest.py"], ["pyproject.toml", "README.md"])
    assert check_dist.check(tmp_path) == [
        "wheel: tests/conftest.py is not part of the package",
        "sdist: missing LICENSE",
        "sdist: missing CHANGELOG.md",
    ]
    assert check_dist.main([str(tmp_path)]) == 1


def test_an_empty_dist_folder_fails(tmp_path: Path) -> None:
    [problem] = check_dist.check(tmp_path)
    assert "expected one" in problem


def test_the_license_file_is_the_mit_license_pyproject_declares() -> None:
    assert PROJECT["license"] == "MIT"
    [license_file] = PROJECT["license-files"]
    text = (ROOT / license_file).read_text()
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 The billabex-async authors" in text


def test_the_classifiers_name_every_supported_python() -> None:
    assert PROJECT["requires-python"] == ">=3.11"
    versions = {
        c.rsplit(" :: ", 1)[1]
        for c in PROJECT["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    }
    assert versions == {"3.11", "3.12", "3.13"}
    assert not [c for c in PROJECT["classifiers"] if c.startswith("License ::")]  # PEP 639


def test_the_project_urls_point_at_the_repository() -> None:
    urls = PROJECT["urls"]
    assert set(urls) == {"Homepage", "Documentation", "Changelog", "Issues"}
    assert all(url.startswith(REPOSITORY) for url in urls.values())
    assert urls["Changelog"] == f"{REPOSITORY}/blob/main/CHANGELOG.md"


def test_the_changelog_has_an_unreleased_section_and_one_per_version() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## \[([^\]]+)\]", text, flags=re.M)
    assert headings[0] == "Unreleased"
    assert VERSION in headings
    for heading in headings:  # each heading has its link reference at the bottom
        assert re.search(rf"^\[{re.escape(heading)}\]: {REPOSITORY}/", text, flags=re.M)


def test_every_readme_link_works_on_a_package_index() -> None:
    # An index renders the README away from the repository: a relative link or
    # image there points nowhere, so every target is absolute or an in-page anchor.
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)\s]+)\)", readme)
    targets += re.findall(r"<img[^>]*\bsrc=\"([^\"]+)\"", readme)
    assert targets
    relative = [t for t in targets if not t.startswith(("https://", "http://", "#"))]
    assert relative == []


def test_the_readme_installs_what_exists() -> None:
    # Not on the package index yet: no install line may ask it for the package.
    readme = (ROOT / "README.md").read_text()
    assert not re.search(r"^\$ pip install '?billabex-async", readme, flags=re.M)
    install = readme.split("## Install", 1)[1].split("\n## ", 1)[0]
    assert "$ pip install -e ." in install
    assert "$ pip install dist/billabex_async-*.whl" in install
    assert "`billabex-async`" in install  # the index name, for when it is published
