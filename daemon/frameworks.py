"""The frameworks job: inventory, releases, advisories, findings, alerts.

The store holds the offline OSV mirror (advisories + advisory_packages), the
release cache (release_cache, refetched after the TTL) and the latest findings
per environment (framework_findings, `first_seen_at` kept across scans so the
weekly report can tell what is new). An unreachable index or OSV never fails
the run: the report says which source was unavailable and the cache is used.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import httpx
from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from checks.frameworks import FrameworkError, InventoryError, SourceUnavailable, output
from checks.frameworks import advisories as osv
from checks.frameworks import inventory as inv
from checks.frameworks.matching import AdvisoryIndex
from checks.frameworks.policy import (
    EnvironmentReport,
    FindingKind,
    IgnoreRule,
    PackageFinding,
    Policy,
    evaluate,
)
from checks.frameworks.releases import (
    IndexApi,
    PackageNotFound,
    ReleaseInfo,
    fetch_releases,
)
from checks.frameworks.support import SupportData, load_support
from daemon.alerts.finding import Finding
from daemon.config import (
    EnvironmentKind,
    EnvironmentSettings,
    FrameworkSettings,
    Settings,
    Severity,
)
from daemon.jobs import JobContext
from daemon.store.engine import transaction
from daemon.store.tables import Advisory, AdvisoryPackage, FrameworkFinding, ReleaseCache

log = logging.getLogger(__name__)

# The repo-relative PyPA advisory database snapshot, used by the demo when present.
SHARED_ADVISORY_DB = Path(__file__).resolve().parents[2] / "shared" / "data" / "pypa-advisory-db"
# Real PyPA records for the ML stack, shipped with the package for offline use.
SHIPPED_SNAPSHOT = (
    Path(__file__).resolve().parents[1] / "checks" / "frameworks" / "data" / "advisories.json"
)
_CHUNK = 500
# High CVSS (>= 7.0, "high" or "critical") alerts as critical.
_CRITICAL_LABELS = frozenset({"high", "critical"})


# --------------------------------------------------------------------------- mirror


def known_advisories(session: Session) -> dict[str, datetime]:
    rows = session.execute(select(Advisory.id, Advisory.modified)).tuples()
    return {ident: modified for ident, modified in rows}  # noqa: C416 (Result has keys())


def store_advisories(
    sessions: sessionmaker[Session], records: Iterable[osv.Advisory], source: str
) -> int:
    """Upsert records newer than what the mirror holds; returns how many were written."""
    newest = osv.by_id(records)
    with transaction(sessions) as session:
        known = known_advisories(session)
        fresh = [r for r in newest.values() if r.id not in known or r.modified > known[r.id]]
        ids = [r.id for r in fresh]
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            session.execute(delete(AdvisoryPackage).where(AdvisoryPackage.advisory_id.in_(chunk)))
            session.execute(delete(Advisory).where(Advisory.id.in_(chunk)))
        if fresh:
            session.execute(
                insert(Advisory),
                [
                    {
                        "id": r.id,
                        "modified": r.modified,
                        "withdrawn": r.withdrawn,
                        "aliases": {"aliases": list(r.aliases)},
                        "packages": {"PyPI": list(r.packages)},
                        "record": dict(r.raw),
                        "source": source[:200],
                    }
                    for r in fresh
                ],
            )
            links = [{"package": p, "advisory_id": r.id} for r in fresh for p in r.packages]
            if links:
                session.execute(insert(AdvisoryPackage), links)
    log.debug("advisory mirror: %d record(s) written from %s", len(fresh), source)
    return len(fresh)


def import_advisory_path(sessions: sessionmaker[Session], path: Path) -> int:
    """Import a directory, zip or JSON file of OSV records into the mirror."""
    return store_advisories(sessions, osv.load_path(path), str(path))


def shipped_advisory_source() -> Path:
    """What "the shipped advisory snapshot" is: the full PyPA database when the
    shared snapshot sits beside the repository, else the curated subset of real
    PyPA records packaged in checks/frameworks/data/advisories.json."""
    return SHARED_ADVISORY_DB if SHARED_ADVISORY_DB.is_dir() else SHIPPED_SNAPSHOT


def load_index(sessions: sessionmaker[Session], packages: Iterable[str]) -> AdvisoryIndex:
    """The compiled advisories naming any of `packages`, straight from the mirror."""
    names = sorted(set(packages))
    records: list[osv.Advisory] = []
    with sessions() as session:
        for start in range(0, len(names), _CHUNK):
            chunk = names[start : start + _CHUNK]
            ids = select(AdvisoryPackage.advisory_id).where(AdvisoryPackage.package.in_(chunk))
            rows = session.execute(
                select(Advisory.id, Advisory.record).where(
                    Advisory.id.in_(ids), Advisory.withdrawn.is_(None)
                )
            )
            records.extend(osv.parse_record(record, f"store:{ident}") for ident, record in rows)
    return AdvisoryIndex(osv.by_id(records).values())


def mirror_size(sessions: sessionmaker[Session], source: str | None = None) -> int:
    with sessions() as session:
        query = select(func.count()).select_from(Advisory)
        if source is not None:
            query = query.where(Advisory.source == source)
        return int(session.execute(query).scalar_one())


# --------------------------------------------------------------------------- releases


def cached_releases(
    sessions: sessionmaker[Session], index_url: str, packages: Iterable[str]
) -> dict[str, tuple[datetime, ReleaseInfo]]:
    names = sorted(set(packages))
    found: dict[str, tuple[datetime, ReleaseInfo]] = {}
    with sessions() as session:
        for start in range(0, len(names), _CHUNK):
            rows = session.execute(
                select(ReleaseCache.package, ReleaseCache.fetched_at, ReleaseCache.releases).where(
                    ReleaseCache.index_url == index_url,
                    ReleaseCache.package.in_(names[start : start + _CHUNK]),
                )
            )
            for package, fetched_at, data in rows:
                try:
                    found[package] = (fetched_at, ReleaseInfo.from_json(data))
                except (ValueError, KeyError, TypeError) as exc:
                    log.debug("release cache entry for %s ignored: %s", package, exc)
    return found


def store_releases(
    sessions: sessionmaker[Session], index_url: str, infos: Sequence[ReleaseInfo], now: datetime
) -> None:
    if not infos:
        return
    with transaction(sessions) as session:
        names = [i.package for i in infos]
        for start in range(0, len(names), _CHUNK):
            session.execute(
                delete(ReleaseCache).where(
                    ReleaseCache.index_url == index_url,
                    ReleaseCache.package.in_(names[start : start + _CHUNK]),
                )
            )
        session.execute(
            insert(ReleaseCache),
            [
                {
                    "index_url": index_url,
                    "package": i.package,
                    "fetched_at": now,
                    "releases": i.to_json(),
                }
                for i in infos
            ],
        )


@dataclass
class _Releases:
    infos: dict[str, ReleaseInfo] = field(default_factory=dict)
    unavailable: list[str] = field(default_factory=list)


def gather_releases(
    sessions: sessionmaker[Session],
    settings: FrameworkSettings,
    packages: Iterable[str],
    now: datetime,
    http: httpx.Client | None,
) -> _Releases:
    """Fresh cache entries as they are; the rest fetched when online, else stale cache.

    After the first outage the index is not asked again in this run: 400 packages
    times a 10 s timeout would hold the job for an hour.
    """
    names = sorted(set(packages))
    cache = cached_releases(sessions, settings.index_url, names)
    result = _Releases()
    stale: list[str] = []
    for name in names:
        held = cache.get(name)
        if held is not None and now - held[0] < settings.release_cache_ttl:
            result.infos[name] = held[1]
        else:
            stale.append(name)
    if not stale:
        return result
    fetched: list[ReleaseInfo] = []
    outage: SourceUnavailable | None = None
    if settings.online and http is not None:
        api = IndexApi(settings.index_api)
        for name in stale:
            if outage is not None:
                break
            try:
                fetched.append(fetch_releases(http, settings.index_url, name, api))
            except PackageNotFound:
                continue
            except SourceUnavailable as exc:
                outage = exc
    store_releases(sessions, settings.index_url, fetched, now)
    result.infos.update((i.package, i) for i in fetched)
    missing = [n for n in stale if n not in result.infos]
    from_cache = [n for n in missing if n in cache]
    for name in from_cache:
        result.infos[name] = cache[name][1]
    if outage is not None:
        oldest = min((cache[n][0] for n in from_cache), default=None)
        used = (
            f"using cached releases for {len(from_cache)} package(s), oldest from "
            f"{oldest.isoformat(timespec='minutes')}"
            if oldest
            else "no cached releases"
        )
        result.unavailable.append(f"{outage}; {used}")
    return result


# --------------------------------------------------------------------------- inventory


def inventory_environment(env: EnvironmentSettings, tracking_uri: str) -> inv.Inventory:
    match env.kind:
        case EnvironmentKind.PYTHON:
            assert env.path is not None  # guaranteed by EnvironmentSettings
            return inv.from_interpreter(env.name, env.path)
        case EnvironmentKind.REQUIREMENTS:
            assert env.path is not None
            return inv.from_requirements(env.name, env.path)
        case EnvironmentKind.LOCK:
            assert env.path is not None
            return inv.from_lock(env.name, env.path)
        case EnvironmentKind.MLFLOW_MODEL:
            assert env.model is not None
            return _mlflow_inventory(env.name, env.model, env.alias, tracking_uri)


def _mlflow_inventory(name: str, model: str, alias: str, tracking_uri: str) -> inv.Inventory:
    """Download the model version's requirements.txt (and python_env.yaml) by alias."""
    import mlflow.artifacts  # lazy: mlflow costs a second at import
    from mlflow import MlflowClient

    uri = f"models:/{model}@{alias}"
    # Resolved to the version's own artifact location first: MLflow's `models:/`
    # artifact repository builds a client on the default tracking URI (./mlflow.db),
    # whatever tracking_uri is passed.
    try:
        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        version = client.get_model_version_by_alias(model, alias)
        location = client.get_model_version_download_uri(model, version.version)
    except Exception as exc:  # MlflowException and transport errors alike
        raise InventoryError(uri, f"cannot resolve the model version: {exc}") from exc
    with tempfile.TemporaryDirectory(prefix="mlmaint-reqs-") as tmp:
        try:
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"{location.rstrip('/')}/requirements.txt",
                dst_path=tmp,
                tracking_uri=tracking_uri,
            )
        except Exception as exc:  # MlflowException and transport errors alike
            raise InventoryError(uri, f"cannot download requirements.txt: {exc}") from exc
        try:
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"{location.rstrip('/')}/python_env.yaml",
                dst_path=tmp,
                tracking_uri=tracking_uri,
            )
        except Exception:  # optional: older models log conda.yaml only
            log.debug("no python_env.yaml for %s", uri)
        return inv.from_mlflow_model(name, Path(tmp), target=uri)


# --------------------------------------------------------------------------- findings


def _key(package: str, kind: str, ids: Sequence[str]) -> tuple[str, str, str]:
    return package, kind, ids[0] if ids else ""


def store_findings(
    sessions: sessionmaker[Session],
    report: EnvironmentReport,
    now: datetime,
    settings: Settings | None = None,
) -> tuple[list[PackageFinding], list[tuple[str, str, str]]]:
    """Replace the environment's findings; returns (new findings, keys no longer found).

    With `settings`, the alerts for new and gone vulnerabilities go to the alert
    policy in the same transaction: a crash can't store a finding as known while
    losing its alert.
    """
    with transaction(sessions) as session:
        previous = {
            _key(row.package, row.kind, _ids(row.advisory_ids)): row.first_seen_at
            for row in session.scalars(
                select(FrameworkFinding).where(FrameworkFinding.environment == report.environment)
            )
        }
        session.execute(
            delete(FrameworkFinding).where(FrameworkFinding.environment == report.environment)
        )
        new: list[PackageFinding] = []
        rows = []
        current = set()
        for f in report.findings:
            key = _key(f.package, f.kind.value, f.advisory_ids)
            current.add(key)
            first = previous.get(key)
            if first is None:
                new.append(f)
            rows.append(
                {
                    "environment": f.environment[:200],
                    "package": f.package[:200],
                    "installed": f.installed[:100],
                    "kind": f.kind.value,
                    "severity": f.severity,
                    "advisory_ids": {
                        "ids": list(f.advisory_ids),
                        "score": f.score,
                        "fixed": f.fixed,
                    },
                    "recommended": f.recommended,
                    "detail": f.detail,
                    "scanned_at": now,
                    "first_seen_at": first or now,
                    "ignored_reason": f.ignored_reason,
                }
            )
        if rows:
            session.execute(insert(FrameworkFinding), rows)
        gone = [k for k in previous if k not in current]
        if settings is not None:
            from daemon.alerts.policy import apply_findings

            apply_findings(session, settings, alerts_of(report.environment, new, gone), now)
    return new, gone


def alerts_of(
    environment: str, new: Sequence[PackageFinding], gone: Sequence[tuple[str, str, str]]
) -> list[Finding]:
    """New vulnerabilities fire at once; vulnerabilities no longer found resolve."""
    alerts = [
        alert_for(f) for f in new if f.kind is FindingKind.VULNERABLE and f.ignored_reason is None
    ]
    alerts.extend(_resolved(environment, k) for k in gone if k[1] == FindingKind.VULNERABLE.value)
    return alerts


def _ids(data: Mapping[str, object]) -> list[str]:
    ids = data.get("ids")
    return [str(i) for i in ids] if isinstance(ids, list) else []


def alert_for(f: PackageFinding) -> Finding:
    critical = f.severity in _CRITICAL_LABELS or (f.score is not None and f.score >= 7.0)
    fix = f.recommended or f.fixed
    return Finding(
        scope=f.environment,
        kind="framework",
        subject=f.subject,
        firing=True,
        severity=Severity.CRITICAL if critical else Severity.WARNING,
        summary=(
            f"{f.package} {f.installed} in {f.environment}: {', '.join(f.advisory_ids)} "
            f"({f.severity}{'' if f.score is None else f' {f.score}'})"
            + (f", upgrade to {fix}" if fix else ", no fixed release known")
        ),
        value=f.score,
        threshold=7.0,
        details={
            "package": f.package,
            "installed": f.installed,
            "ids": list(f.advisory_ids),
            "fixed": f.fixed,
            "recommended": f.recommended,
            "detail": f.detail,
        },
    )


def _resolved(environment: str, key: tuple[str, str, str]) -> Finding:
    package, _, ident = key
    return Finding(
        scope=environment,
        kind="framework",
        subject=f"{package}:{ident}",
        firing=False,
        severity=Severity.INFO,
        summary=f"{package} in {environment}: {ident} no longer applies",
    )


# --------------------------------------------------------------------------- the job


@dataclass(frozen=True, kw_only=True)
class ScanOutcome:
    reports: tuple[EnvironmentReport, ...]
    # New vulnerabilities, alerting now; plus resolutions of vulnerabilities gone.
    # Already handed to the alert policy with the findings they come from.
    alerts: tuple[Finding, ...]
    # Environments that could not be inventoried (sources that failed are findings).
    errors: tuple[str, ...]
    duration_s: float

    @property
    def actionable(self) -> int:
        return sum(len(r.actionable) for r in self.reports)


def policy_from(settings: FrameworkSettings) -> Policy:
    return Policy(
        max_release_age_days=settings.max_release_age_days,
        ignores=tuple(
            IgnoreRule(
                id=i.id,
                reason=i.reason,
                until=date.fromisoformat(i.until) if i.until else None,
                package=i.package,
            )
            for i in settings.ignores
        ),
    )


def sync_advisories(
    sessions: sessionmaker[Session], settings: FrameworkSettings, http: httpx.Client | None
) -> list[str]:
    """Import the configured advisory_db once, sync the OSV export when online.

    Returns the sources that were unavailable (the run goes on with the mirror).
    """
    problems: list[str] = []
    if settings.advisory_db is not None and mirror_size(sessions, str(settings.advisory_db)) == 0:
        try:
            import_advisory_path(sessions, settings.advisory_db)
        except (FrameworkError, OSError) as exc:
            problems.append(f"advisory database {settings.advisory_db} unreadable: {exc}")
    if settings.online and settings.osv_export_url and http is not None:
        with sessions() as session:
            known = known_advisories(session)
        try:
            result = osv.sync_export(http, settings.osv_export_url, known)
        except SourceUnavailable as exc:
            problems.append(f"{exc}; using the mirror as it is ({len(known)} records)")
        else:
            store_advisories(sessions, result.records, settings.osv_export_url)
    return problems


def scan(
    sessions: sessionmaker[Session],
    settings: FrameworkSettings,
    inventories: Sequence[inv.Inventory],
    now: datetime,
    *,
    http: httpx.Client | None = None,
    support: SupportData | None = None,
    source_problems: Sequence[str] = (),
) -> list[EnvironmentReport]:
    """Evaluate inventories against the mirror and the releases; store nothing but caches."""
    packages = {p.name for i in inventories for p in i.packages if p.version}
    problems = list(source_problems)
    if settings.online and settings.osv_query and http is not None:
        pairs = sorted({(p.name, p.version) for i in inventories for p in i.packages if p.version})
        with sessions() as session:
            have = known_advisories(session)
        try:
            found = osv.query_batch(http, settings.osv_url, pairs, have)
        except SourceUnavailable as exc:
            problems.append(f"{exc}; matching against the mirror only")
        else:
            store_advisories(sessions, found, settings.osv_url)
    index = load_index(sessions, packages)
    releases = gather_releases(sessions, settings, packages, now, http)
    support = support or load_support(settings.support_data)
    policy = policy_from(settings)
    note = f"{index.records} record(s) for these packages in the mirror"
    return [
        evaluate(
            inventory,
            index,
            releases.infos,
            support,
            policy,
            now,
            unavailable=[*problems, *releases.unavailable],
            advisories_note=note,
        )
        for inventory in inventories
    ]


def scan_frameworks(
    ctx: JobContext, now: datetime, *, http: httpx.Client | None = None
) -> ScanOutcome:
    """The daily job: every configured environment, findings stored, new vulnerabilities out."""
    started = time.monotonic()
    settings = ctx.settings.frameworks
    if not settings.enabled or not settings.environments:
        return ScanOutcome(reports=(), alerts=(), errors=(), duration_s=0.0)
    own_client = http is None and settings.online
    client = httpx.Client(timeout=settings.http_timeout.total_seconds()) if own_client else http
    try:
        problems = sync_advisories(ctx.sessions, settings, client)
        inventories: list[inv.Inventory] = []
        errors: list[str] = []
        for env in settings.environments:
            try:
                inventories.append(inventory_environment(env, ctx.settings.mlflow.tracking_uri))
            except InventoryError as exc:
                errors.append(f"{env.name}: {exc}")
        reports = scan(
            ctx.sessions, settings, inventories, now, http=client, source_problems=problems
        )
    finally:
        if own_client and client is not None:
            client.close()
    alerts: list[Finding] = []
    for report in reports:
        # Findings and their alerts commit together (see store_findings).
        new, gone = store_findings(ctx.sessions, report, now, ctx.settings)
        alerts.extend(alerts_of(report.environment, new, gone))
    outcome = ScanOutcome(
        reports=tuple(reports),
        alerts=tuple(alerts),
        errors=tuple(errors),
        duration_s=time.monotonic() - started,
    )
    log.info(
        "frameworks scan: %d environment(s), %d finding(s), %d new alert(s), %d error(s) in %.1fs",
        len(reports),
        outcome.actionable,
        len(alerts),
        len(outcome.errors),
        outcome.duration_s,
    )
    return outcome


def demo_scan(
    sessions: sessionmaker[Session],
    now: datetime,
    *,
    interpreter: Path,
    mlflow_model_dir: Path | None = None,
    advisory_source: Path | None = None,
) -> list[EnvironmentReport]:
    """For `mlmaint demo`: this interpreter's environment and the demo model's logged
    requirements (a local MLflow model directory) against the shipped snapshot, offline.

    Render with checks.frameworks.output.render_table(reports).
    """
    source = advisory_source or shipped_advisory_source()
    if mirror_size(sessions, str(source)) == 0:
        import_advisory_path(sessions, source)
    inventories = [inv.from_interpreter("demo-venv", interpreter)]
    if mlflow_model_dir is not None:
        inventories.append(inv.from_mlflow_model("demo-model", mlflow_model_dir))
    settings = FrameworkSettings(online=False)
    return scan(sessions, settings, inventories, now)


# --------------------------------------------------------------------------- CLI

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2


def run_command(settings: Settings, fmt: str, now: datetime) -> tuple[str, list[str], int]:
    """`mlmaint frameworks`: (document to print, error lines, exit status).

    0 when no actionable finding, 1 on findings, 2 when mlmaint itself failed
    (an environment could not be inventoried, the store is not migrated).
    """
    from daemon import __version__
    from daemon.store.engine import StoreError
    from daemon.store.migrate import require_current

    ctx = JobContext.from_settings(settings)
    try:
        require_current(ctx.engine)
        outcome = scan_frameworks(ctx, now)
    except (StoreError, FrameworkError, SQLAlchemyError) as exc:
        return "", [f"frameworks: {exc}"], EXIT_ERROR
    finally:
        ctx.close()
    reports = list(outcome.reports)
    if fmt == "json":
        text = output.dumps(output.to_json(reports))
    elif fmt == "cyclonedx":
        text = output.dumps(output.to_cyclonedx(reports, __version__))
    else:
        text = output.render_table(reports)
    errors = [f"frameworks: {e}" for e in outcome.errors]
    if errors:
        return text, errors, EXIT_ERROR
    return text, [], EXIT_FINDINGS if outcome.actionable else EXIT_CLEAN
