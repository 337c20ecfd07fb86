"""The sample data every organization starts with, so a new user can create a replica at once.

Seed ids are UUIDv5 values derived from the organization id and a fixed label (`seed_id`), so they are
the same on every run and for every `--seed`, differ between organizations, and can be documented
(see docs/sandbox-config.md). Everything created later gets its id from the sandbox's `IdFactory`.

Per organization (`<owner>` is the organization name lower-cased, non-alphanumerics turned into `-`):

- repositories `<owner>/api` (warm hook `npm ci`, start hook `npm run dev &`, a few agent files),
  `<owner>/web` (warm hook `pnpm install`) and `<owner>/infra` (no replicas.json);
- repository set `platform` = api + web;
- environments `Global` (the singleton, variable `TZ=UTC`), `api` (bound to `<owner>/api`, a
  `DATABASE_URL` variable, an `~/.npmrc` file, the `postgres` skill, a `docs` http MCP, a warm hook,
  a start hook and an enabled warm pool), `web` (bound to `<owner>/web`) and `platform` (bound to the
  repository set).
"""

from __future__ import annotations

import re
import uuid

from replicas_mcp.sandbox.environments.records import RepoFile, RepositoryRecord, RepositorySetRecord

_NAMESPACE = uuid.UUID("6f1c2a8e-4b1d-5c3e-9a7f-2d8e0b4c6a10")


def seed_id(org_id: str, label: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{org_id}/{label}"))


def owner_slug(org_name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", org_name.lower()).strip("-")
    return slug or "org"


API_WARM_HOOK = "#!/usr/bin/env bash\nset -euo pipefail\nnpm ci\n"
API_START_HOOK = "#!/usr/bin/env bash\nnpm run dev &\n"
GLOBAL_VARIABLES = {"TZ": "UTC"}
API_VARIABLES = {"DATABASE_URL": "postgres://sandbox:sandbox@localhost:5432/api"}
API_FILE = ("npmrc", "~/.npmrc", "registry=https://registry.npmjs.org/\nfund=false\n")
API_SKILL = ("PostgreSQL", "postgres", "https://skills.sh/skill/postgres")
API_MCP = ("docs", "http", {"url": "https://docs.example.com/mcp", "headers": {}})


def sample_repositories(org_id: str, org_name: str) -> list[RepositoryRecord]:
    owner = owner_slug(org_name)
    return [
        RepositoryRecord(
            id=seed_id(org_id, "repository/api"),
            name=f"{owner}/api",
            url=f"https://github.com/{owner}/api",
            default_branch="main",
            warm_hook="npm ci",
            start_hook="npm run dev &",
            skill_files=(
                RepoFile(
                    ".claude/skills/migrations",
                    "migrations",
                    "Write and verify database migrations.",
                    "claude",
                    "skill",
                ),
                RepoFile(".claude/agents/reviewer.md", "reviewer", "Reviews API changes.", "claude", "agent"),
                RepoFile(
                    ".claude/commands/release.md", "release", "Cut a release branch.", "claude", "command"
                ),
                RepoFile(".codex/prompts/triage.md", "triage", None, "codex", "prompt"),
            ),
        ),
        RepositoryRecord(
            id=seed_id(org_id, "repository/web"),
            name=f"{owner}/web",
            url=f"https://github.com/{owner}/web",
            default_branch="main",
            warm_hook="pnpm install",
            skill_files=(
                RepoFile(
                    ".cursor/rules/components.mdc", "components", "UI component rules.", "cursor", "prompt"
                ),
                RepoFile(
                    ".agents/skills/storybook", "storybook", "Write Storybook stories.", "agents", "skill"
                ),
            ),
        ),
        RepositoryRecord(
            id=seed_id(org_id, "repository/infra"),
            name=f"{owner}/infra",
            url=f"https://github.com/{owner}/infra",
            default_branch="main",
        ),
    ]


def sample_repository_sets(org_id: str) -> list[RepositorySetRecord]:
    return [
        RepositorySetRecord(
            id=seed_id(org_id, "repository-set/platform"),
            name="platform",
            description="The API and the web app, checked out together",
            repository_ids=(seed_id(org_id, "repository/api"), seed_id(org_id, "repository/web")),
        )
    ]
