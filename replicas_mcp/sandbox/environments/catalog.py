"""The sandbox's built-in stand-in for the skills.sh catalog and for skill registries on GitHub.

`search()` backs `GET /v1/environment-skills/search`; `registry_skills()` is what "discovering" a
skill-registry repository yields. Both are small fixed tables so results are reproducible offline.
"""

from __future__ import annotations

from dataclasses import dataclass

SKILLS_SH = "https://skills.sh/skill/"
MAX_RESULTS = 20
POPULAR_RESULTS = 10


@dataclass(frozen=True)
class CatalogSkill:
    name: str
    slug: str
    description: str
    installs: int

    @property
    def source(self) -> str:
        return SKILLS_SH + self.slug

    def to_json(self) -> dict[str, object]:
        """The spec's `SearchSkill`."""
        return {"name": self.name, "slug": self.slug, "source": self.source, "installs": self.installs}


CATALOG: tuple[CatalogSkill, ...] = (
    CatalogSkill("Docker", "docker", "Write Dockerfiles and compose files; debug container builds.", 48210),
    CatalogSkill("Kubernetes", "kubernetes", "Author and debug Kubernetes manifests and Helm charts.", 21544),
    CatalogSkill("Terraform", "terraform", "Plan and apply infrastructure as code with Terraform.", 19872),
    CatalogSkill(
        "PostgreSQL", "postgres", "Design schemas, write migrations and tune Postgres queries.", 30411
    ),
    CatalogSkill("React", "react", "Build React components with hooks and accessible markup.", 52093),
    CatalogSkill("Next.js", "nextjs", "App Router, server components and data fetching in Next.js.", 40118),
    CatalogSkill("Tailwind CSS", "tailwind", "Style interfaces with Tailwind utility classes.", 33760),
    CatalogSkill("Pytest", "pytest", "Write fixtures, parametrized tests and coverage for Python.", 27305),
    CatalogSkill("Playwright", "playwright", "End-to-end browser tests with Playwright.", 18440),
    CatalogSkill("GitHub Actions", "github-actions", "Create and debug GitHub Actions CI workflows.", 36987),
    CatalogSkill("AWS", "aws", "Work with AWS services through the CLI and SDKs.", 22756),
    CatalogSkill("Stripe", "stripe", "Integrate Stripe payments, webhooks and billing.", 12093),
    CatalogSkill("PDF", "pdf", "Read, fill and generate PDF documents.", 25678),
    CatalogSkill(
        "Frontend design", "frontend-design", "Produce polished, distinctive web interfaces.", 44120
    ),
    CatalogSkill("Code review", "code-review", "Review diffs for bugs, security and style issues.", 38902),
    CatalogSkill(
        "Security audit", "security-audit", "Find injection, auth and secret-handling flaws.", 16215
    ),
    CatalogSkill("Prisma", "prisma", "Model data and run migrations with Prisma ORM.", 14877),
    CatalogSkill("FastAPI", "fastapi", "Build typed Python HTTP APIs with FastAPI.", 17650),
    CatalogSkill("Rust", "rust", "Idiomatic Rust: ownership, errors, cargo workflows.", 15309),
    CatalogSkill("Go", "golang", "Idiomatic Go services, modules and table-driven tests.", 13984),
)


def search(query: str | None) -> list[CatalogSkill]:
    """Skills whose name, slug or description contains every word of `query` (popular ones when empty)."""
    words = (query or "").lower().split()
    ranked = sorted(CATALOG, key=lambda skill: -skill.installs)
    if not words:
        return ranked[:POPULAR_RESULTS]
    matches = [
        skill
        for skill in ranked
        if all(word in f"{skill.name} {skill.slug} {skill.description}".lower() for word in words)
    ]
    return matches[:MAX_RESULTS]


@dataclass(frozen=True)
class RegistrySkill:
    """A skill directory found in a registry repository (`skills/<dir>/SKILL.md`)."""

    directory: str
    name: str
    description: str


# Registry repositories the sandbox "knows"; any other GitHub repository is discovered as empty.
KNOWN_REGISTRIES: dict[str, tuple[RegistrySkill, ...]] = {
    "anthropics/skills": (
        RegistrySkill("pdf", "pdf", "Extract text and tables from PDFs; fill forms."),
        RegistrySkill("docx", "docx", "Create and edit Word documents."),
        RegistrySkill("xlsx", "xlsx", "Build spreadsheets with formulas and charts."),
        RegistrySkill("frontend-design", "frontend-design", "Distinctive, production-grade web UIs."),
    ),
    "vercel-labs/agent-skills": (
        RegistrySkill("react-best-practices", "react-best-practices", "React and Next.js performance rules."),
        RegistrySkill("web-design-guidelines", "web-design-guidelines", "Review UI code for accessibility."),
    ),
}


def registry_skills(full_name: str) -> tuple[RegistrySkill, ...]:
    return KNOWN_REGISTRIES.get(full_name.lower(), ())
