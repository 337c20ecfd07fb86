"""Reproducible identifiers: one seeded generator per sandbox, so a seed gives the same ids every run."""

from __future__ import annotations

import random
import uuid


class IdFactory:
    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)

    def uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def token(self, prefix: str, length: int = 12) -> str:
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
        return prefix + "".join(self._rng.choice(alphabet) for _ in range(length))
