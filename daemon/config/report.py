"""[report]: when the weekly report is written, where it is kept and sent."""

from __future__ import annotations

from pathlib import Path

from daemon.config.common import Frozen, Schedule


class ReportSettings(Frozen):
    enabled: bool = True
    schedule: Schedule = Schedule(cron="0 8 * * mon", timezone="UTC")
    # Relative: under service.state_dir (Settings.report_directory).
    directory: Path = Path("reports")
    email_channel: str | None = None
    slack_channel: str | None = None
    base_url: str = "http://127.0.0.1:8787"
