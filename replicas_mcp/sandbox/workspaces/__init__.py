"""Workspaces (replicas) of an organization: records, store and routes, with the simulated agent.

`records` (Replica, Chat, ChatMessage, RepoState), `store` (Workspaces: create and find), `lifecycle`
(boot, wake, sleep, error, delete), `turns` (the agent's turns), `chats` (messages, queues, history),
`shapes` (the wire shapes), `routes` (`/v1/replica/**`), `sse` (the event stream), `events` (the event
log), `agent` (what a turn does, from its text). See docs/sandbox.md.
"""
