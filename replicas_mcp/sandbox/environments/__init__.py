"""An organization's configuration: repositories, repository sets and environments with their parts.

`records` and `seed` (the data), `base`, `parts`, `pools` and `store` (`OrgConfig`: the rules),
`shapes` (wire shapes the records do not render themselves), `routes`, `part_routes` and `hook_routes`
(`/v1/environments/**`, repositories, skills search), `validation`, `catalog` (the skills catalog) and
`hookrunner` (simulated hook scripts). See docs/sandbox-config.md.
"""
