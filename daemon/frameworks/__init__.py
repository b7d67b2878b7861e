"""The frameworks stage: inventory, releases, advisories, findings, alerts.

The store holds the offline OSV mirror (advisories + advisory_packages), the
release cache (release_cache, filled by `mlmaint frameworks sync`, refetched
after the TTL by an online scan, with the synced support data) and the latest findings
per environment (framework_findings, `first_seen_at` kept across scans so the
weekly report can tell what is new). An unreachable index or OSV never fails
the run: the report says which source was unavailable and the cache is used.

Rooms: `specs` (settings -> the policy), `mirror` (the advisory mirror),
`releases` (the release cache), `sync` (the index and support data into it),
`local_index` (an index on loopback: the demo's and the tests'), `inventory`
(what each environment holds), `scan` (inventories against mirror and
releases), `findings` (findings -> alerts), `records` (the findings the stage
writes), `job` (the scheduled entry points), `cli` (`mlmaint frameworks`,
`mlmaint frameworks sync`).
"""
