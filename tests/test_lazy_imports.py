"""Lazy imports: ``import billabex_async`` loads what a single request needs, no more.

Each check that looks at ``sys.modules`` runs in a fresh interpreter, since
this test process has long imported everything. An eager import added to
any module the package loads (the package, the client, the transport...)
makes the first test fail.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest

import billabex_async
import billabex_async.auth
from billabex_async._lazy import lazy_pattern
from tests._fresh_imports import fresh, loaded_after

ROOT = Path(__file__).resolve().parent.parent


def test_import_loads_no_bulk_sync_matching_or_rapidfuzz() -> None:
    assert loaded_after("import billabex_async") == []


def test_the_client_and_models_load_nothing_heavy_either() -> None:
    statements = (
        "from billabex_async import BillabexClient, ContactUpsert, RateLimit, errors\n"
        "BillabexClient(token='t' * 20, rate_limit=RateLimit(300, 60.0))"
    )
    assert loaded_after(statements) == []


def test_the_client_defers_cattrs_and_the_contact_patterns_to_their_first_use() -> None:
    # What a web backend pays before its first request: no cattrs, no
    # converter built, no contact pattern compiled. The first write compiles what it needs.
    code = """
import json, re, sys
from billabex_async import BillabexClient, ContactUpsert
from billabex_async import _retry_after, _types
from billabex_async._validation import contact

def state():
    modules = (contact, _types, _retry_after)
    compiled = [k for m in modules for k, v in vars(m).items() if isinstance(v, re.Pattern)]
    return ["cattrs" in sys.modules, len(compiled)]

BillabexClient(token="t" * 20, telemetry=False)
before = state()
from billabex_async.resources._bodies import check_write, write_body
model = ContactUpsert(full_name="Ada Lovelace", language="en", email="ada@example.com")
check_write(model)
body = write_body(model)
print(json.dumps([before, state(), "opentelemetry" in sys.modules, json.loads(body)]))
"""
    result = fresh(code)
    assert isinstance(result, list)
    before, after, otel, body = result
    assert before == [False, 0]
    # A plain write needs neither cattrs (its body function is compiled) nor the
    # name and language patterns (str methods decide); the email's compiles now.
    assert after[1] >= 1
    assert otel is False  # telemetry=False imports nothing from opentelemetry
    assert body == {"fullName": "Ada Lovelace", "language": "en", "email": "ada@example.com"}


def test_a_lazy_pattern_compiles_once_then_is_the_compiled_pattern() -> None:
    namespace: dict[str, object] = {}
    stand_in = namespace["_WORD"] = lazy_pattern(namespace, "_WORD", r"[a-z]+")
    assert "lazy_pattern" in repr(stand_in)
    match = stand_in.fullmatch("abc")
    assert match is not None
    assert match.group() == "abc"
    compiled = namespace["_WORD"]
    assert isinstance(compiled, re.Pattern)
    assert compiled.pattern == r"[a-z]+"
    assert stand_in.search("1x") is not None  # a kept stand-in still answers


def test_a_lazy_pattern_bound_under_another_name_is_refused() -> None:
    namespace: dict[str, object] = {}
    stand_in = namespace["_OTHER"] = lazy_pattern(namespace, "_WORD", r"[a-z]+")
    with pytest.raises(RuntimeError, match="is not the global '_WORD'"):
        stand_in.search("abc")


def test_no_library_module_loads_click_or_rich() -> None:
    # Only running the command may: importing billabex_async.cli itself does not.
    modules = ["bulk", "sync", "auth", "testing", "models", "errors", "cli"]
    statements = "\n".join(f"import billabex_async.{name}" for name in modules)
    assert not {"click", "rich"} & set(loaded_after(statements))


def test_a_bulk_name_loads_bulk_and_the_matcher() -> None:
    loaded = loaded_after("import billabex_async\nbillabex_async.BulkReport")
    assert {"billabex_async.bulk", "billabex_async._matching", "rapidfuzz"} <= set(loaded)


def test_a_sync_name_loads_sync() -> None:
    assert "billabex_async.sync" in loaded_after("from billabex_async import SyncResult")


def test_bulk_and_sync_are_still_attributes_after_a_bare_import() -> None:
    code = (
        "import json, billabex_async\n"
        "print(json.dumps([billabex_async.bulk.bulk_upsert.__module__,"
        " billabex_async.sync.plan_sync.__module__]))"
    )
    assert fresh(code) == ["billabex_async.bulk", "billabex_async.sync._plan"]


def test_bulk_upsert_works_when_bulk_was_never_imported() -> None:
    # The client imports bulk inside the method: prove that path runs in a
    # process where nothing imported bulk before the call.
    code = """
import asyncio, json, sys
from billabex_async import BillabexClient, ContactUpsert
from billabex_async.testing import FakeBillabex

async def main():
    before = "billabex_async.bulk" in sys.modules
    async with FakeBillabex(rate_limit=None) as fake:
        async with BillabexClient(token=fake.token, base_url=fake.url, rate_limit=None) as client:
            names = ["Ada Lovelace", "Grace Hopper", "Alan Turing"]
            items = [ContactUpsert(full_name=n, language="en") for n in names]
            report = await client.contacts.bulk_upsert(fake.account_id, items)
            result = await client.contacts.sync(fake.account_id, items, dry_run=True)
        stored = len(fake.contacts(fake.account_id))
    return [before, report.succeeded, stored, result.unchanged]

print(json.dumps(asyncio.run(main())))
"""
    assert fresh(code) == [False, 3, 3, 3]


@pytest.mark.parametrize("name", billabex_async.__all__)
def test_every_public_name_resolves_to_its_definition(name: str) -> None:
    value = getattr(billabex_async, name)
    namespace: dict[str, object] = {}
    exec(f"from billabex_async import {name} as value", namespace)  # noqa: S102 - names from __all__
    assert namespace["value"] is value
    assert name in dir(billabex_async)


@pytest.mark.parametrize(
    ("name", "module"),
    [
        ("BulkReport", "billabex_async.bulk"),
        ("BulkFailure", "billabex_async.bulk"),
        ("BulkOutcome", "billabex_async.bulk"),
        ("SyncResult", "billabex_async.sync"),
        ("SyncPlan", "billabex_async.sync"),
        ("SyncChange", "billabex_async.sync"),
    ],
)
def test_lazy_names_are_the_subpackages_objects(name: str, module: str) -> None:
    assert getattr(billabex_async, name) is getattr(importlib.import_module(module), name)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="'billabex_async' has no attribute 'bulk_upsertt'"):
        _ = billabex_async.bulk_upsertt  # type: ignore[attr-defined]
    with pytest.raises(ImportError):
        exec("from billabex_async import Nope", {})  # noqa: S102 - a fixed statement


def test_auth_loads_login_and_discovery_on_first_use() -> None:
    deferred = [
        "aiohttp.web",
        "billabex_async.auth._login",
        "billabex_async.auth._discovery",
        "billabex_async.auth._register",
    ]
    code = (
        "import json, sys\n"
        "from billabex_async.auth import FileTokenStore, OAuthTokenProvider\n"
        f"deferred = {deferred!r}\n"
        "before = [m for m in deferred if m in sys.modules]\n"
        "from billabex_async.auth import login\n"
        "print(json.dumps([before, [m for m in deferred if m in sys.modules]]))"
    )
    assert fresh(code) == [[], deferred]


@pytest.mark.parametrize("name", billabex_async.auth.__all__)
def test_every_auth_name_resolves(name: str) -> None:
    value = getattr(billabex_async.auth, name)
    namespace: dict[str, object] = {}
    exec(f"from billabex_async.auth import {name} as value", namespace)  # noqa: S102 - from __all__
    assert namespace["value"] is value
    assert name in dir(billabex_async.auth)


def test_version_is_the_distributions_and_pyprojects() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert billabex_async.__version__ == pyproject["project"]["version"]
    assert billabex_async.__version__ == importlib.metadata.version("billabex-async")
