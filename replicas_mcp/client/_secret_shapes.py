"""The disguises an echoed secret can take, found as spans of a text so they can be masked.

An upstream (or anything that echoes what it received) can return a key not only as is but:

- in another case (`SK_REPLICAS_…`, `Sk_Replicas_…`);
- cut short: a distinctive leading part of it (the first half, at least 12 characters);
- spaced out or separated (`s k _ r e p …`, `sk-replicas-…`, `sk_replicas_CANA RY7f 3a9c`);
- base64-encoded, standard or URL-safe, with or without padding (alone or inside a larger blob, e.g. a
  `Basic` credential).

Matching works on a normalized view of the text (lowercase, separators removed) that keeps each character's
position in the original, so a match maps back to the exact span to mask. Needles are the normalized
secrets; the built-in key formats (`sk_replicas_…`, `whsec_…`) are also recognised when spaced out, even for
keys that were never registered.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = ["Needle", "base64_spans", "needle_for", "shape_spans"]

# Characters a copy may be "spaced out" with; removed before comparing.
_SEPARATORS = frozenset(" \t\r\n\f\v-_.,:;|/\\'\"`*+~=()[]{}<>\u00a0\u200b\u200c\u200d\u2060\ufeff")
# str.translate table that drops the separators (the fast path: no positions kept).
_DROP_SEPARATORS = str.maketrans("", "", "".join(_SEPARATORS))
# Normalized starts of the built-in key formats, with their plain written form (sk_replicas_…, whsec_…).
_FORMAT_MARKERS = (("skreplicas", "sk_replicas"), ("whsec", "whsec"))
# A marker broken into groups this small means the whole key was spaced out or chunked.
_SPACED_GROUP_MAX = 4
# After a spaced-out format marker, at most this many key characters are masked.
_FORMAT_TAIL_MAX = 64
# A secret shorter than this (normalized) is only matched whole; longer ones also by a leading part.
_PREFIX_MIN_SECRET = 16
_PREFIX_MIN = 12
# Runs of the base64 alphabets (standard and URL-safe) long enough to hide a key.
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")


@dataclass(frozen=True)
class Needle:
    """A normalized secret and how much of its start is enough to call a match."""

    text: str
    min_match: int


def _normalize(text: str) -> tuple[str, list[int]]:
    """The text lowercased without separators, and each kept character's index in the original."""
    kept: list[str] = []
    where: list[int] = []
    for index, char in enumerate(text):
        if char in _SEPARATORS:
            continue
        lowered = char.lower()
        kept.append(lowered if len(lowered) == 1 else char)  # one character per position, always
        where.append(index)
    return "".join(kept), where


def needle_for(secret: str) -> Needle | None:
    """The needle that finds `secret` in any of its shapes (None when too short to match safely)."""
    text, _ = _normalize(secret)
    if len(text) < 8:
        return None
    min_match = len(text) if len(text) < _PREFIX_MIN_SECRET else max(_PREFIX_MIN, (len(text) + 1) // 2)
    return Needle(text, min_match)


def _needle_spans(normal: str, needle: Needle) -> Iterator[tuple[int, int]]:
    """Normalized spans that start with the needle's leading part, extended as far as it goes on matching."""
    head = needle.text[: needle.min_match]
    start = normal.find(head)
    while start >= 0:
        length = needle.min_match
        while (
            length < len(needle.text)
            and start + length < len(normal)
            and normal[start + length] == needle.text[length]
        ):
            length += 1
        yield start, start + length
        start = normal.find(head, start + length)


def _runs(where: list[int], start: int, end: int) -> list[tuple[int, int]]:
    """The runs of adjacent characters (in the original) among normalized positions start..end."""
    runs: list[tuple[int, int]] = []
    run_start = start
    for index in range(start + 1, end + 1):
        if index == end or where[index] - where[index - 1] > 1:
            runs.append((run_start, index))
            run_start = index
    return runs


def _spaced_format_spans(normal: str, where: list[int], text: str) -> Iterator[tuple[int, int]]:
    """A built-in key format written other than plainly (`s k _ r e p …`, `sk_r epli cas_ …`,
    `SK-REPLICAS-…`): the marker, the run of key characters right after it, and, when the marker itself was
    broken into small groups (a spaced-out or chunked copy), the following runs of the same size a few
    separators apart, so the words after the key are left alone."""
    for marker, plain in _FORMAT_MARKERS:
        start = normal.find(marker)
        while start >= 0:
            end = start + len(marker)
            written = text[where[start] : where[end - 1] + 1]
            if written.lower() != plain:  # the plain form is the regular expression's
                group = max(stop - begin for begin, stop in _runs(where, start, end))
                limit = min(len(normal), end + _FORMAT_TAIL_MAX)
                first = True
                while end < limit and where[end] - where[end - 1] <= 4:
                    run_end = end + 1
                    while run_end < limit and where[run_end] - where[run_end - 1] == 1:
                        run_end += 1
                    if not normal[end:run_end].isalnum() or (
                        not first and (group > _SPACED_GROUP_MAX or run_end - end > group)
                    ):
                        break
                    end, first = run_end, False
                yield start, end
            start = normal.find(marker, end)


@functools.lru_cache(maxsize=8)
def _heads(needles: tuple[Needle, ...]) -> re.Pattern[str]:
    """One pattern for every needle's leading part and every key-format marker (the secrets change rarely)."""
    heads = {needle.text[: needle.min_match] for needle in needles} | {m for m, _ in _FORMAT_MARKERS}
    return re.compile("|".join(re.escape(head) for head in sorted(heads, key=len, reverse=True)))


def _might_hold(text: str, needles: tuple[Needle, ...]) -> bool:
    """A fast pre-check (C-speed string operations): could `text` hold a needle or a key format at all?"""
    return _heads(needles).search(text.lower().translate(_DROP_SEPARATORS)) is not None


def shape_spans(text: str, needles: Iterable[Needle]) -> list[tuple[int, int]]:
    """Spans of `text` (start, end) holding a needle in any case, spacing or by its leading part, or a
    spaced-out built-in key format; overlapping spans merged, in order."""
    needles = tuple(needles)
    if not _might_hold(text, needles):
        return []
    normal, where = _normalize(text)
    if not normal:
        return []
    found: list[tuple[int, int]] = []
    for needle in needles:
        found.extend(_needle_spans(normal, needle))
    found.extend(_spaced_format_spans(normal, where, text))
    spans = sorted((where[start], where[end - 1] + 1) for start, end in found if end > start)
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _decoded(run: str) -> str | None:
    """The text a base64 run (either alphabet, padded or not) decodes to, or None if it is not base64."""
    body = run.rstrip("=").replace("-", "+").replace("_", "/")
    if len(body) % 4 == 1:
        body = body[:-1]
    try:
        raw = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.decode("utf-8", "ignore")


def base64_spans(text: str, needles: Iterable[Needle]) -> list[tuple[int, int]]:
    """Spans of base64 runs in `text` whose decoded text holds a secret in any shape `shape_spans` finds,
    or a built-in key format. Each run is decoded from its first four offsets: an encoded key glued after
    other characters of the alphabet (a path, a prefix) lines up with one of them."""
    needles = tuple(needles)
    spans: list[tuple[int, int]] = []
    for match in _BASE64_RUN.finditer(text):
        run = match.group()
        for offset in range(4):
            decoded = _decoded(run[offset:])
            if decoded and _holds_secret(decoded, needles):
                spans.append(match.span())
                break
    return spans


def _holds_secret(decoded: str, needles: tuple[Needle, ...]) -> bool:
    return _might_hold(decoded, needles)
