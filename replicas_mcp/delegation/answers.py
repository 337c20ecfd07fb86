"""Questions this process has answered, so a history that lags behind the answer is not read as asking.

A look at a replica (`snapshot`) finds the interactive tool call a chat is paused on in its history; the
engine writes the call's result only once it has taken the answer. A look right after
`send_replica_message` may still find the call unresolved and report the agent as asking, and a wait would
stop there, "done" before the answer was worked on. So every pending call a look finds is noted per
(replica, chat), a message sent to that chat marks the call noted there as answered, and a look that finds
an answered call takes the chat for working. A new question is another call (another id) and shows.

Keyed by replica id (unique across organizations) and bounded; a call without an id is never assumed
answered.
"""

from __future__ import annotations

from collections import OrderedDict

LIMIT = 4096

Key = tuple[str, str]  # (replica id, chat id)


class Answers:
    def __init__(self, limit: int = LIMIT) -> None:
        self._seen: OrderedDict[Key, str] = OrderedDict()  # the pending call a look found last
        self._answered: OrderedDict[Key, str] = OrderedDict()  # the call a message answered
        self._limit = limit

    def saw(self, replica_id: str, chat_id: str, call_id: str | None) -> None:
        if call_id is not None:
            _put(self._seen, (replica_id, chat_id), call_id, self._limit)

    def answered(self, replica_id: str, chat_id: str) -> None:
        """A message was sent to this chat: the call noted there (if any) is answered."""
        call_id = self._seen.pop((replica_id, chat_id), None)
        if call_id is not None:
            _put(self._answered, (replica_id, chat_id), call_id, self._limit)

    def is_answered(self, replica_id: str, chat_id: str, call_id: str | None) -> bool:
        return call_id is not None and self._answered.get((replica_id, chat_id)) == call_id

    def clear(self) -> None:
        self._seen.clear()
        self._answered.clear()


def _put(memory: OrderedDict[Key, str], key: Key, value: str, limit: int) -> None:
    memory[key] = value
    memory.move_to_end(key)
    while len(memory) > limit:
        memory.popitem(last=False)


ANSWERS = Answers()
