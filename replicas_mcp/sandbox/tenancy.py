"""Who is calling: set on `request.state.caller` by the app's auth middleware.

Route modules read the caller and the per-organization stores from `request.state`
(`caller`, `org`, `environments`, `automations`), so they never parse the Authorization header themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

KeyKind = Literal["org", "personal"]


@dataclass(frozen=True)
class Caller:
    org_id: str
    key_kind: KeyKind
    user_id: str | None  # set for personal keys only
