"""Alerts: policy (fingerprint, firing/resolved, cooldown), outbox, channels."""
