"""A turn that ended unheard is counted once: by the look that finds it over, never again by its own
events when they come after all (a replaying API, a shared buffer, the network). Pure bookkeeping in every
order the events and the looks can come in; tests/delegation/test_without_replay.py runs the same against
the sandbox, both replaying and not, through a stream of the wait's own and a shared one."""

from __future__ import annotations

from typing import Any

from replicas_mcp.client.models import EngineEvent, ReplicaChat, ReplicaListItem
from replicas_mcp.delegation import Cursor
from replicas_mcp.delegation.tracking import Tracker

RID = "cd613e30-d8f1-4adf-91b7-584a2265b1f5"
CHAT = "chat-1"
OTHER = "chat-2"


def tracker(cursor: Cursor | None) -> Tracker:
    tracked = Tracker(RID, cursor)
    tracked.observe_item(ReplicaListItem.model_validate({"id": RID, "name": "t", "status": "active"}))
    return tracked


def busy_cursor() -> Cursor:
    return Cursor(replica_id=RID, event_id="ev-x-000009", busy=True)


def look(tracked: Tracker, **processing: bool) -> None:
    """A REST look at the chats (`chat_1=False`: chat-1 is not processing)."""
    tracked.observe_chats(
        [
            ReplicaChat.model_validate({"id": name.replace("_", "-"), "processing": value})
            for name, value in processing.items()
        ]
    )


def hear(tracked: Tracker, *events: tuple[str, dict[str, Any]]) -> None:
    for seq, (kind, payload) in enumerate(events, start=100):
        tracked.observe_event(EngineEvent(id=f"ev-x-{seq:06d}", type=kind, payload=payload))


def turn(chat: str = CHAT, *, ok: bool = True) -> list[tuple[str, dict[str, Any]]]:
    """A whole turn's events, as an API that replays sends them after the look."""
    return [
        ("chat.turn.accepted", {"chatId": chat, "messageId": "m1", "queued": False, "position": 0}),
        ("chat.turn.started", {"chatId": chat, "messageId": "m1"}),
        ("chat.turn.delta", {"chatId": chat, "event": {"type": "text", "text": "working"}}),
        *end(chat, ok=ok),
    ]


def end(chat: str = CHAT, *, ok: bool = True) -> list[tuple[str, dict[str, Any]]]:
    """A turn's completion and the chat summary that follows it."""
    return [
        ("chat.turn.completed", {"chatId": chat, "isComplete": ok}),
        ("chat.updated", {"chat": {"id": chat, "processing": False, "awaitingInput": False}}),
    ]


def test_a_turn_that_ended_before_anybody_listened_is_counted_by_the_look() -> None:
    waited = tracker(busy_cursor())
    look(waited, chat_1=False)
    assert waited.digest.turns == 1
    assert waited.satisfied("idle")
    assert waited.satisfied("turn_completed")
    assert waited.satisfied("any_event")  # a turn ended since the cursor: something happened


def test_its_completion_arriving_after_the_look_is_not_counted_again() -> None:
    waited = tracker(busy_cursor())
    look(waited, chat_1=False)
    hear(waited, *end())
    assert waited.digest.turns == 1
    assert waited.digest.events == 2
    assert waited.state == "idle"


def test_a_start_cursor_whose_whole_first_turn_is_replayed_after_the_look_counts_one() -> None:
    waited = tracker(Cursor.start(RID))
    look(waited, chat_1=False)
    hear(waited, *turn())
    assert waited.digest.turns == 1


def test_a_late_failed_completion_makes_the_counted_turn_a_failed_one() -> None:
    waited = tracker(busy_cursor())
    look(waited, chat_1=False)
    hear(waited, *end(ok=False))
    assert (waited.digest.turns, waited.digest.failed_turns) == (1, 1)


def test_a_completion_heard_before_the_look_is_the_only_count() -> None:
    # From a shared buffer: the completion, with or without the summary that follows it.
    for heard in (end()[:1], end()):
        waited = tracker(busy_cursor())
        hear(waited, *heard)
        look(waited, chat_1=False)
        assert waited.digest.turns == 1, heard


def test_a_look_that_finds_the_agent_still_busy_counts_nothing_and_the_end_is_heard() -> None:
    waited = tracker(busy_cursor())
    look(waited, chat_1=True)
    assert waited.digest.turns == 0
    assert not waited.satisfied("turn_completed")
    hear(waited, *end())
    assert waited.digest.turns == 1


def test_an_idle_cursor_and_an_idle_look_count_nothing() -> None:
    for cursor in (Cursor(replica_id=RID, event_id="ev-x-000009", busy=False), None):
        waited = tracker(cursor)
        look(waited, chat_1=False)
        assert waited.digest.turns == 0, cursor


def test_a_turn_heard_starting_that_ends_during_a_reconnect_is_counted_once_replayed_or_not() -> None:
    for replayed in (False, True):
        waited = tracker(None)
        look(waited, chat_1=False)
        hear(waited, *turn()[:2])  # a new turn starts; then the stream drops and reconnects
        look(waited, chat_1=False)
        assert waited.digest.turns == 1
        if replayed:
            hear(waited, *end())
        assert waited.digest.turns == 1, replayed
        hear(waited, *turn())  # a later turn, heard
        # Replayed, exact; not, the later turn's end is taken for the one the look counted, whose own never
        # comes: one fewer, never one twice (the module's doc says why).
        assert waited.digest.turns == (2 if replayed else 1), replayed


def test_a_second_look_does_not_count_again_a_turn_whose_start_was_replayed_in_between() -> None:
    waited = tracker(Cursor.start(RID))
    look(waited, chat_1=False)
    hear(waited, *turn()[:2])  # the replay of the first turn, cut by a reconnect
    look(waited, chat_1=False)
    hear(waited, *end())  # replayed after the reconnect
    assert waited.digest.turns == 1


def test_two_turns_ended_before_the_look_both_replayed_count_two() -> None:
    waited = tracker(busy_cursor())
    look(waited, chat_1=False)
    hear(waited, *end(), *turn())  # the running turn's end, then a queued message's whole turn
    assert waited.digest.turns == 2


def test_turns_ended_unheard_in_two_chats_count_two_and_their_late_ends_nothing() -> None:
    waited = tracker(None)
    look(waited, chat_1=True, chat_2=True)
    look(waited, chat_1=False, chat_2=False)
    assert waited.digest.turns == 2
    hear(waited, *end(CHAT), *end(OTHER))
    assert waited.digest.turns == 2


def test_a_wait_that_returns_on_a_heard_end_does_not_hand_it_to_the_next_wait_as_running() -> None:
    # `until="turn_completed"` returns on the completion, before the chat summary saying what follows.
    first = tracker(Cursor.start(RID))
    hear(first, *turn()[:-1])
    assert first.satisfied("turn_completed")
    assert first.digest.turns == 1
    cursor = first.cursor()
    assert cursor.busy is None  # the counted turn is over; whether another runs is not known
    second = tracker(cursor)
    look(second, chat_1=False)
    assert second.digest.turns == 0
    assert second.satisfied("idle")


def test_the_cursor_after_a_look_counted_an_unheard_end_resumes_from_now() -> None:
    waited = tracker(busy_cursor())
    look(waited, chat_1=False)
    assert waited.cursor().event_id is None  # the turn's own events, if replayed, must not count again
    assert waited.cursor().busy is False
    hear(waited, *end())  # they came during this wait: the cursor moves past them again
    assert waited.cursor().event_id == "ev-x-000101"
