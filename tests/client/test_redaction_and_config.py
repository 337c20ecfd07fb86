"""Keys never leak (reprs, errors, logs); configuration from arguments and the environment."""

from __future__ import annotations

import logging

import httpx2
import pytest
from pydantic import SecretStr

from replicas_mcp.client import ReplicasClient
from replicas_mcp.client._redact import RedactingFilter, redact_headers, redact_text
from replicas_mcp.client.config import DEFAULT_BASE_URL
from replicas_mcp.client.errors import APIStatusError, ConfigurationError, ReplicasError
from replicas_mcp.client.models import ReplicaListItem

from .client_helpers import BASE_URL, CANARY_KEY, MockClient, json_response


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("key sk_replicas_abcDEF123_-x was rejected", "abcDEF123"),
        ("secret whsec_abc123 in config", "abc123"),
        ("Authorization: Bearer tok3n-value", "tok3n-value"),
        ("{'authorization': 'Bearer tok3n-value'}", "tok3n-value"),
        ('headers={"Authorization": "tok3n-value"}', "tok3n-value"),
    ],
)
def test_redact_text(text: str, leak: str) -> None:
    redacted = redact_text(text)
    assert leak not in redacted
    assert "***" in redacted


def test_redact_headers() -> None:
    assert redact_headers({"Authorization": "Bearer x", "X-Other": "sk_replicas_zzz"}) == {
        "Authorization": "***",
        "X-Other": "sk_replicas_***",
    }


def test_log_filter_redacts_arguments_and_tracebacks() -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "sent %s", (f"Bearer {CANARY_KEY}",), None)
    try:
        raise RuntimeError(f"boom {CANARY_KEY}")
    except RuntimeError as exc:
        record.exc_info = (type(exc), exc, exc.__traceback__)
    RedactingFilter().filter(record)
    assert CANARY_KEY not in record.getMessage()
    assert record.exc_text is not None
    assert CANARY_KEY not in record.exc_text


def test_unprefixed_keys_are_redacted_once_a_client_holds_them() -> None:
    odd_key = "plainkey-0123456789abcdef"
    client = ReplicasClient(api_key=odd_key, base_url=BASE_URL)
    assert odd_key not in repr(client)
    assert odd_key not in str(ReplicasError(f"failed with {odd_key}"))


def test_client_repr_masks_the_key() -> None:
    client = ReplicasClient(api_key=CANARY_KEY, base_url=BASE_URL)
    assert repr(client) == f"ReplicasClient(base_url='{BASE_URL}', api_key='***')"
    assert CANARY_KEY not in repr(client._http)


def test_error_text_and_details_are_redacted() -> None:
    error = APIStatusError(
        f"echo {CANARY_KEY}", status=401, error=f"bad key {CANARY_KEY}", details=f"got {CANARY_KEY}"
    )
    for text in (str(error), repr(error), str(error.error), str(error.details)):
        assert CANARY_KEY not in text


def test_model_repr_is_redacted() -> None:
    item = ReplicaListItem(id="r1", name="n", status="active", note=f"leaked {CANARY_KEY}")
    assert CANARY_KEY not in repr(item)
    assert CANARY_KEY not in str(item)


async def test_an_echoed_key_never_reaches_the_error(
    mock_client: MockClient, caplog: pytest.LogCaptureFixture
) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return json_response(401, {"error": f"Invalid key {request.headers['authorization']}"})

    caplog.set_level(logging.DEBUG)
    async with mock_client(handler) as client:
        with pytest.raises(APIStatusError) as info:
            await client.repositories.list()
    assert CANARY_KEY not in str(info.value) + repr(info.value)
    assert all(CANARY_KEY not in record.getMessage() for record in caplog.records)


# --- configuration --------------------------------------------------------------------------------------


def test_key_and_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLICAS_API_KEY", CANARY_KEY)
    monkeypatch.setenv("REPLICAS_BASE_URL", "http://localhost:8123")
    client = ReplicasClient()
    assert client.base_url == "http://localhost:8123"


def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLICAS_BASE_URL", "http://localhost:8123")
    client = ReplicasClient(api_key=SecretStr(CANARY_KEY), base_url="http://other:1")
    assert client.base_url == "http://other:1"


def test_default_base_url() -> None:
    assert ReplicasClient(api_key=CANARY_KEY).base_url == DEFAULT_BASE_URL


@pytest.mark.parametrize("key", [None, "", "   "])
def test_missing_key_is_a_configuration_error(key: str | None) -> None:
    with pytest.raises(ConfigurationError, match="REPLICAS_API_KEY"):
        ReplicasClient(api_key=key)


@pytest.mark.parametrize(
    ("key", "where"),
    [
        ("sk_replicas_\u201cabc123", "U+201C) at position 13"),
        ("sk_replicas_abc\u200b123", "U+200B) at position 16"),
        ("sk_replicas_abc 123", "U+0020) at position 16"),
    ],
    ids=["curly-quote", "zero-width-space", "inner-space"],
)
async def test_a_key_an_http_header_cannot_carry_is_a_configuration_error_that_never_shows_it(
    key: str, where: str
) -> None:
    """A key pasted with a typographic quote or a zero-width space: one clear error naming the character's
    position, not httpx's UnicodeEncodeError at the first request; and the same for a caller's view."""
    with pytest.raises(ConfigurationError) as caught:
        ReplicasClient(api_key=key, base_url=BASE_URL)
    assert where in str(caught.value)
    assert "abc" not in str(caught.value)
    async with ReplicasClient(api_key=CANARY_KEY, base_url=BASE_URL) as client:
        with pytest.raises(ConfigurationError) as viewed:
            client.with_api_key(key)
    assert where in str(viewed.value)


@pytest.mark.parametrize("url", ["ftp://x", "not a url", "http://"])
def test_bad_base_url(url: str) -> None:
    with pytest.raises(ConfigurationError):
        ReplicasClient(api_key=CANARY_KEY, base_url=url)


def test_key_is_not_a_header() -> None:
    with pytest.raises(ConfigurationError):
        ReplicasClient(api_key=CANARY_KEY, base_url=BASE_URL, headers={"Authorization": "Bearer x"})


def test_bad_retry_settings() -> None:
    with pytest.raises(ConfigurationError):
        ReplicasClient(api_key=CANARY_KEY, base_url=BASE_URL, max_retries=-1)


def test_client_package_never_imports_mcp() -> None:
    import subprocess
    import sys

    code = (
        "import sys, replicas_mcp.client; print(any(m == 'mcp' or m.startswith('mcp.') for m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_caller_keys_do_not_accumulate_in_the_redaction_list() -> None:
    """`with_api_key` (one view per caller, per request in byo-key mode) must not grow the process-wide list.

    Keys the built-in pattern masks are never registered; other keys are kept in a bounded recent-keys list,
    while a client's own key stays registered for good.
    """
    from replicas_mcp.client import _redact

    own_key = "own-key-for-life-0123456789abcdef"
    client = ReplicasClient(api_key=own_key, base_url=BASE_URL)
    permanent, transient = _redact.registered_count()

    for n in range(500):  # many callers with well-formed keys: nothing registered, yet every one masked
        key = f"sk_replicas_caller{n:04d}_abcdefgh"
        view = client.with_api_key(key)
        assert _redact.registered_count() == (permanent, transient)
        assert key not in redact_text(f"upstream said {key}")
        assert key not in repr(view)

    odd_keys = [f"{n:04d}-odd-caller-key-0123456789" for n in range(_redact.MAX_TRANSIENT_SECRETS * 3)]
    for key in odd_keys:
        client.with_api_key(key)
        assert key not in redact_text(f"echo {key}")  # masked while in use
        assert _redact.registered_count()[1] <= _redact.MAX_TRANSIENT_SECRETS
    assert _redact.registered_count()[0] == permanent
    assert odd_keys[0] in redact_text(f"echo {odd_keys[0]}")  # long gone: no longer held
    client.with_api_key(odd_keys[-1])  # a key in use again is kept (most recent), not re-added
    assert _redact.registered_count()[1] == _redact.MAX_TRANSIENT_SECRETS
    assert own_key not in redact_text(f"echo {own_key}")  # the client's own key is never evicted
