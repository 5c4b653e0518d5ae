"""Section 5 (``models``): what structure and unstructure cost through the SDK's converter."""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass

from bench import _private
from bench.people import people
from billabex_async.models import Contact, ContactUpsert

__all__ = ["ModelCost", "run_model_cost"]


@dataclass(frozen=True, slots=True)
class ModelCost:
    items: int
    structure_seconds: float
    unstructure_seconds: float

    @property
    def structure_us(self) -> float:
        return self.structure_seconds / self.items * 1e6

    @property
    def unstructure_us(self) -> float:
        return self.unstructure_seconds / self.items * 1e6

    @property
    def per_upsert_us(self) -> float:
        """One upsert's share: its body unstructured, its answer structured."""
        return self.structure_us + self.unstructure_us


def _wire_contacts(n: int, seed: int) -> list[dict[str, object]]:
    """Contacts as the API sends them (every field present, as Billabex does)."""
    rng = random.Random(seed)
    return [
        {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "fullName": p.full_name,
            "email": {"address": p.email, "status": "Valid"},
            "language": p.language,
            "role": None,
            "notes": None,
            "isPrimary": None,
            "readOnlyReason": None,
        }
        for p in people(n, seed=seed, tag="w")
    ]


def run_model_cost(n: int, *, seed: int) -> ModelCost:
    """Structure ``n`` Contact dicts and unstructure ``n`` ContactUpserts, one at a time."""
    wire = _wire_contacts(n, seed)
    upserts = [
        ContactUpsert(full_name=p.full_name, language=p.language, email=p.email)
        for p in people(n, seed=seed + 1, tag="u")
    ]
    structure = _private.find(_private.STRUCTURE)
    unstructure = _private.find(_private.UNSTRUCTURE)
    start = time.perf_counter()
    for data in wire:
        structure(data, Contact)
    structured = time.perf_counter() - start
    start = time.perf_counter()
    for model in upserts:
        unstructure(model)
    unstructured = time.perf_counter() - start
    return ModelCost(n, structured, unstructured)
