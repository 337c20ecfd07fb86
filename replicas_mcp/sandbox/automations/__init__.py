"""Automations of an organization: records, store and routes; cron, custom-webhook and repository-event runs.

`records` (AutomationRecord, ExecutionRecord), `store` (AutomationStore: CRUD, runs), `routes` (the
wire shapes), `fields` and `triggers` (request validation), `webhook` (the public custom-webhook route),
`cron` (the scheduler) and `repo_events` (simulated GitHub/GitLab events). See docs/sandbox-config.md.
"""
