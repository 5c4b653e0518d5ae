"""The test matrix: the suite on each supported Python, and on the dependency floors.

    nox                     every session below
    nox -s tests-3.13       one Python
    nox -s lowest           the floors of pyproject.toml (``make test-lowest``)
    nox -s wheel            the built wheel alone in a fresh venv (``make wheel-smoke``)

(``make matrix`` installs nox, the ``matrix`` extra, into .venv and runs it.)

Each test session builds its own virtualenv under ``.nox/`` with the package
installed editable and the dev, redis and cli extras. The interpreters are
found on PATH (``python3.12``...; with pyenv, ``pyenv global 3.11 3.12 3.13``
puts all three there) and never downloaded: a missing one skips its session,
or fails it where ``CI`` is set. ``--download-python auto`` lets uv fetch it.
"""

from __future__ import annotations

from pathlib import Path

import nox

PYTHONS = ["3.11", "3.12", "3.13"]  # keep in step with the classifiers in pyproject.toml
EXTRAS = ".[dev,redis,cli]"
# Both cores; no cache directory, so parallel sessions never share one.
PYTEST = ("python", "-m", "pytest", "-n", "2", "-p", "no:cacheprovider")

# uv builds a session's environment in seconds where pip takes a minute or more;
# plain venv + pip when uv is not installed.
nox.options.default_venv_backend = "uv|venv"
nox.options.download_python = "never"  # interpreters come from the machine, not a download
nox.options.sessions = [*(f"tests-{python}" for python in PYTHONS), "lowest"]


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The whole suite on one Python, dependencies at their newest."""
    session.install("-e", EXTRAS)
    session.run(*PYTEST, *session.posargs)


@nox.session(python=PYTHONS[0])
def lowest(session: nox.Session) -> None:
    """The whole suite with every runtime dependency at its floor, on the oldest Python.

    ``.ci/floors.py`` reads the floors from pyproject.toml, so they are listed
    once; ``--check`` then proves the environment holds exactly those versions.
    """
    floors = Path(session.create_tmp()) / "floors.txt"
    # run_always: the constraints are part of the install, --install-only included.
    output = session.run_always("python", ".ci/floors.py", silent=True)
    assert isinstance(output, str), "floors.py printed nothing"
    floors.write_text(output)
    session.install("-c", str(floors), "-e", EXTRAS)
    session.run("python", ".ci/floors.py", "--check")
    session.run(*PYTEST, *session.posargs)


@nox.session(python=None)  # nox's own interpreter: the wheel is pure Python
def wheel(session: nox.Session) -> None:
    """The wheel ``make dist`` built, installed with ``[cli]`` into a fresh venv, as a user would.

    Not a default session: it needs ``dist/`` first. ``tests/wheel_smoke.py``
    then runs the simulator, the README's quickstart and the ``billabex``
    command from that venv, in a temporary directory, never from this checkout.
    """
    wheels = sorted(Path("dist").glob("billabex_async-*.whl"))
    if len(wheels) != 1:
        session.error(
            f"expected one dist/billabex_async-*.whl, found {len(wheels)}: run `make dist`"
        )
    session.install(f"{wheels[0].resolve()}[cli]")
    session.run("python", "-m", "tests.wheel_smoke", session.bin)
