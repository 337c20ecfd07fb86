"""Wait cursors: where a caller stopped reading a replica's events, as one opaque string.

A cursor holds the id of the last event handed to the caller (sent back as `Last-Event-ID`, so the next
wait resumes right after it), whether the agent was working at that moment, and short hashes of the pull
request URLs already reported. The last two let a wait notice what happened while nobody was reading, even
when the stream cannot replay it (a turn that finished, a PR that appeared), without reporting it twice.

`Cursor.start(replica_id)` points before the replica's first event, with the agent busy (its first message
runs once it boots). A wait from it sends `Last-Event-ID: 0`, which an API that replays answers with the
whole buffered stream; neither the guide nor the contract promises that, so the wait also reads the chats
once the stream is open, and the busy flag makes a first turn that already ended count as finished.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass, field

_PREFIX = "c1."
# A cursor comes back from the model, so it is untrusted: its event id becomes the upstream Last-Event-ID
# header and its replica id could reach a message. Only these shapes are accepted (an API id's alphabet).
_EVENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,200}")
_REPLICA_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
_PR_KEY = re.compile(r"[0-9a-f]{8}")
_DAMAGED = "the cursor is damaged (pass it back exactly as returned)"
FROM_START = "0"  # the Last-Event-ID asking for the whole buffered stream (honoured only if the API replays)


class CursorError(ValueError):
    """A cursor that was not produced by these tools, or belongs to another replica."""


def pr_key(url: str) -> str:
    """A short, stable stand-in for a PR URL (cursors stay small however many PRs a replica opens)."""
    return hashlib.sha256(url.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class Cursor:
    replica_id: str
    event_id: str | None = None  # None: no event read yet (resume from "now")
    busy: bool | None = None  # was the agent working when the cursor was taken (None: unknown)
    prs: frozenset[str] = field(default_factory=frozenset)  # pr_key of every PR already reported

    @classmethod
    def start(cls, replica_id: str) -> Cursor:
        """Before the replica's first event: for replicas these tools just created."""
        return cls(replica_id=replica_id, event_id=FROM_START, busy=True)

    def encode(self) -> str:
        body: dict[str, object] = {"r": self.replica_id}
        # An event id of another shape could not be sent back (decode refuses it): the wait then resumes
        # from now, and catches up on what it missed from the chats, as after a stream that cannot replay.
        if self.event_id is not None and _EVENT_ID.fullmatch(self.event_id):
            body["e"] = self.event_id
        if self.busy is not None:
            body["b"] = int(self.busy)
        if self.prs:
            body["p"] = sorted(self.prs)
        raw = json.dumps(body, separators=(",", ":")).encode()
        return _PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, *, replica_id: str | None = None) -> Cursor:
        """Parse a cursor; with `replica_id`, also check that it belongs to that replica."""
        if not text.startswith(_PREFIX):
            raise CursorError("not a cursor from these tools (it should start with 'c1.')")
        payload = text[len(_PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
            body = json.loads(raw)
        except (binascii.Error, ValueError) as exc:  # UnicodeDecodeError is a ValueError
            raise CursorError(_DAMAGED) from exc
        if not isinstance(body, dict) or not _matches(_REPLICA_ID, body.get("r")):
            raise CursorError(_DAMAGED)
        event_id, busy, prs = body.get("e"), body.get("b"), body.get("p", [])
        if (
            (event_id is not None and not _matches(_EVENT_ID, event_id))
            or busy not in (None, 0, 1)
            or not isinstance(prs, list)
            or not all(_matches(_PR_KEY, key) for key in prs)
        ):
            raise CursorError(_DAMAGED)
        cursor = cls(
            replica_id=body["r"],
            event_id=event_id,
            busy=None if busy is None else bool(busy),
            prs=frozenset(prs),
        )
        if replica_id is not None and cursor.replica_id != replica_id:
            # The cursor's own id is not repeated: it is text from the caller, not a fact of the server.
            raise CursorError(f"this cursor belongs to another replica, not {replica_id}")
        return cursor


def _matches(shape: re.Pattern[str], value: object) -> bool:
    return isinstance(value, str) and shape.fullmatch(value) is not None
