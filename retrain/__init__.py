"""Retraining jobs: policy, snapshots, executors, trainers, registry.

Runs on GPU workers with no access to the daemon's store: a job travels as a JSON
spec and comes back as a JSON outcome. Never imports `daemon`.
"""
