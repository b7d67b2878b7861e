"""Executors: where a retraining job runs (a local subprocess, a Celery GPU queue)."""
