"""Coding-agent overrides of an automation: provider, model and thinking level, and their rules.

Models per provider are the ones the API guide lists (Pi shares Opencode's OpenRouter models, as the spec
says for replicas; `moonshotai/kimi-k2.6` is accepted with and without the guide's `:free` suffix).
`ultra` thinking is Codex-only and `ultracode` Claude-only (spec).
"""

from __future__ import annotations

from typing import Any

from replicas_mcp.sandbox.errors import bad_request
from replicas_mcp.sandbox.http import expect_optional_choice

_OPENROUTER_MODELS = (
    "z-ai/glm-5.2",
    "minimax/minimax-m3",
    "xiaomi/mimo-v2.5-pro",
    "moonshotai/kimi-k2.6",
    "moonshotai/kimi-k2.6:free",
)
MODELS: dict[str, tuple[str, ...]] = {
    "claude": ("opus[1m]", "opus", "sonnet", "haiku"),
    "codex": ("gpt-5.5", "gpt-5.4", "gpt-5.4-mini", "gpt-5.3-codex", "gpt-5.2"),
    "cursor": ("composer-2", "composer-2.5"),
    "opencode": _OPENROUTER_MODELS,
    "pi": _OPENROUTER_MODELS,
}
PROVIDERS = tuple(MODELS)
THINKING_LEVELS = ("low", "medium", "high", "xhigh", "max", "ultra", "ultracode")
_PROVIDER_ONLY_LEVELS = {"ultra": "codex", "ultracode": "claude"}


def provider(value: Any) -> str | None:
    return expect_optional_choice(value, "agent_provider", PROVIDERS)


def thinking_level(value: Any) -> str | None:
    return expect_optional_choice(value, "thinking_level", THINKING_LEVELS)


def check_combination(agent_provider: str | None, model: Any, level: str | None) -> str | None:
    """Validate the resulting (provider, model, thinking level) and return the model."""
    checked: str | None = None
    if model is not None:
        if not isinstance(model, str) or not model.strip():
            raise bad_request("Invalid field 'model'", "'model' must be a non-empty string or null.")
        if agent_provider is None:
            raise bad_request(
                "model requires agent_provider",
                "Set agent_provider (claude, codex, cursor, opencode or pi) together with model.",
            )
        checked = model
        if model not in MODELS[agent_provider]:
            raise bad_request(
                "Invalid field 'model'",
                f"{model!r} is not a {agent_provider} model; "
                f"use one of: {', '.join(MODELS[agent_provider])}.",
            )
    only_for = _PROVIDER_ONLY_LEVELS.get(level or "")
    if only_for is not None and agent_provider != only_for:
        raise bad_request(
            "Invalid field 'thinking_level'",
            f"thinking_level {level!r} is only available with agent_provider '{only_for}'.",
        )
    return checked
