"""Tables (SQLAlchemy 2.0 `Mapped[]`). Alembic (`migrations/`) owns the schema built from these.

A metric point is keyed by (run_id, key, step) and written as an upsert, so a retried or resumed
run never duplicates a point. `latest_metrics` keeps the last value per key for summaries.

Non-finite metric values are stored portably (as MLflow does): `value` holds a finite stand-in
(0.0 for NaN, ±max float for ±inf) and `nonfinite` says which (`NONFINITE`), so every database
and every ORM read sees a float, never SQLite's text 'NaN'.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """The one timestamp type: values go in and come out as timezone-aware UTC datetimes.

    Postgres stores `timestamptz`; SQLite has no time zones and stores the UTC wall-clock time,
    which is read back as UTC (not as the host's local time). A naive value written is taken as
    UTC. The schema is `DateTime(timezone=True)`, as before: only the Python side changes."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Optional[datetime], dialect) -> Optional[datetime]:
        if value is None:
            return None
        value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Optional[datetime], dialect) -> Optional[datetime]:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: UTCDateTime}


MAX_FLOAT = 1.7976931348623157e308
NONFINITE = {1: float("nan"), 2: float("inf"), 3: float("-inf")}  # `nonfinite` code -> the value


def encode_value(value: float) -> tuple[float, Optional[int]]:
    """(stored value, nonfinite code or None) of a metric value: 0.0 for NaN, ±max float for ±inf."""
    if value != value:
        return 0.0, 1
    if abs(value) > MAX_FLOAT:
        return (MAX_FLOAT, 2) if value > 0 else (-MAX_FLOAT, 3)
    return value, None


def decode_value(value: float, nonfinite: Optional[int]) -> float:
    return value if nonfinite is None else NONFINITE[nonfinite]


STATUSES = ("queued", "running", "succeeded", "failed", "cancelling", "cancelled")
FINISHED = frozenset({"succeeded", "failed", "cancelled"})


class Experiment(Base):
    __tablename__ = "experiments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(200), default="local")
    status: Mapped[str] = mapped_column(String(16), default="queued")
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    spec_hash: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[Optional[str]] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    error: Mapped[Optional[str]] = mapped_column(Text, nullable=True)

    runs: Mapped[list["Run"]] = relationship(
        back_populates="experiment", order_by="Run.index", cascade="all, delete-orphan"
    )

    __table_args__ = (
        UniqueConstraint("owner", "idempotency_key", name="uq_experiments_owner_idempotency_key"),
        Index("ix_experiments_owner_created", "owner", "created_at", "id"),
        Index("ix_experiments_status_created", "status", "created_at", "id"),
    )


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    experiment_id: Mapped[str] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(BigInteger)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    error: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    layer_names: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # progress
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    epochs: Mapped[int] = mapped_column(Integer, default=0)
    eta_seconds: Mapped[Optional[float]] = mapped_column(Float, nullable=True)
    # reliability: the lease is the source of truth, not the broker
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    resumes: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[Optional[str]] = mapped_column(String(200), nullable=True)
    heartbeat_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    checkpoint_epoch: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    checkpoint_uri: Mapped[Optional[str]] = mapped_column(String(1000), nullable=True)
    enqueued_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)

    experiment: Mapped[Experiment] = relationship(back_populates="runs")

    __table_args__ = (Index("ix_runs_status_heartbeat", "status", "heartbeat_at"),)


class MetricPoint(Base):
    """No foreign key to runs (revision 0002): its per-row check cost half the ingest time. A point
    is only written by `persistence.repo.metrics.upsert_points`, which upserts `latest_metrics`
    (foreign key kept) for each key in the same transaction, so a batch for an unknown run fails
    whole; deleting a run deletes its points and rollups by a trigger on `runs`."""

    __tablename__ = "metric_points"

    run_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    value: Mapped[float] = mapped_column(Float)  # always a finite float: see `nonfinite`
    time: Mapped[float] = mapped_column(Float)  # unix seconds, UTC
    # NULL for a finite value; else NONFINITE's code (NaN, +inf, -inf) and `value` a finite stand-in
    nonfinite: Mapped[Optional[int]] = mapped_column(SmallInteger, nullable=True)


class MetricRollup(Base):
    """Min/max summaries per power-of-two step bucket (`persistence.repo.rollup`); no foreign key,
    as for metric_points."""

    __tablename__ = "metric_rollups"

    run_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    min_step: Mapped[int] = mapped_column(BigInteger)
    min_value: Mapped[float] = mapped_column(Float)
    min_time: Mapped[float] = mapped_column(Float)
    max_step: Mapped[int] = mapped_column(BigInteger)
    max_value: Mapped[float] = mapped_column(Float)
    max_time: Mapped[float] = mapped_column(Float)


class LatestMetric(Base):
    __tablename__ = "latest_metrics"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[float] = mapped_column(Float)
    time: Mapped[float] = mapped_column(Float)
    nonfinite: Mapped[Optional[int]] = mapped_column(SmallInteger, nullable=True)  # as MetricPoint's


class LayerStat(Base):
    __tablename__ = "layer_stats"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    values: Mapped[list[Any]] = mapped_column(JSON)


class ProbeResult(Base):
    __tablename__ = "probe_results"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # succeeded | failed
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Artifact(Base):
    __tablename__ = "artifacts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    run_id: Mapped[Optional[str]] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), nullable=True, index=True)
    experiment_id: Mapped[Optional[str]] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), nullable=True, index=True
    )
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(50))  # checkpoint | figure | vega | data
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    uri: Mapped[str] = mapped_column(String(1000))
    content_type: Mapped[str] = mapped_column(String(100), default="application/octet-stream")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("run_id", "name", name="uq_artifacts_run_name"),
    )


class RunEvent(Base):
    """Append-only event log per run: what the SSE stream replays (its ids are Last-Event-IDs)."""

    __tablename__ = "run_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  # status | progress | metrics
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_run_events_run_id_id", "run_id", "id"),)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200), index=True)
    scope: Mapped[str] = mapped_column(String(16))  # read | write | admin
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
