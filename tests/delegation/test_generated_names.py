"""Generated replica names are the task's words, not markup addressed to the agent (issue 14 #9)."""

from __future__ import annotations

from replicas_mcp.delegation import stable_name


def test_directives_and_slash_commands_stay_out_of_generated_names() -> None:
    name = stable_name("env-1", "Add a README badge [[pr]]")
    assert name.startswith("add-a-readme-badge-")
    assert "-pr-" not in name
    assert stable_name("env-1", "[[slow:3]] [[canvas:markdown]] Write the docs").startswith("write-the-docs-")
    assert stable_name("env-1", "/plan Refactor the parser").startswith("refactor-the-parser-")
    assert stable_name("env-1", "[[pr]]").startswith("task-")


def test_the_directive_still_makes_a_different_task() -> None:
    assert stable_name("env-1", "Add a badge [[pr]]") != stable_name("env-1", "Add a badge")
