"""One settings class, read from the environment with the prefix SKIPCORE_.

The embedded default (no servers): SQLite + local object store + filesystem broker, all under
`$SKIPCORE_HOME` (default ./.skipcore). The production profile names Postgres, Redis and S3.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, Optional, Union

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

AUTO_CONCURRENCY_MAX = 8  # `auto` starts at most this many training processes (each imports torch)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and taskset narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _trains_on_gpu(device: str) -> bool:
    """Whether runs here train on CUDA, judged without importing torch: SKIPCORE_DEVICE=cuda, or
    `auto` on a machine with an NVIDIA driver whose CUDA_VISIBLE_DEVICES does not hide every GPU."""
    if device != "auto":
        return device == "cuda"
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None and listed.strip() in ("", "-1", "none"):
        return False
    return Path("/proc/driver/nvidia").exists() or Path("/dev/nvidiactl").exists()


def auto_concurrency(device: str) -> int:
    """What SKIPCORE_WORKER_CONCURRENCY=auto means: one training process per usable core (at most
    AUTO_CONCURRENCY_MAX) on a CPU worker, where small runs go fastest one torch thread each, side
    by side; one where runs train on a GPU (`skipcore worker --per-gpu N` shares a GPU)."""
    return 1 if _trains_on_gpu(device) else min(usable_cores(), AUTO_CONCURRENCY_MAX)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SKIPCORE_", extra="ignore")

    home: Path = Path(".skipcore")
    profile: Literal["embedded", "production"] = "embedded"
    database_url: Optional[str] = None  # default sqlite:///<home>/skipcore.db
    broker_url: Optional[str] = None  # default filesystem:// under <home>/broker
    object_store_url: Optional[str] = None  # default file://<home>/objects; s3://bucket/prefix
    s3_endpoint_url: Optional[str] = None  # MinIO / moto endpoint for s3:// stores
    data_root: Optional[Path] = None  # torchvision data sets; default <home>/data
    device: Literal["auto", "cpu", "cuda"] = "auto"

    # API
    require_auth: Optional[bool] = None  # default: on in production, off in embedded
    max_body_bytes: int = Field(1_000_000, ge=1024)
    submissions_per_minute: int = Field(600, ge=1)
    page_default: int = Field(50, ge=1)
    page_max: int = Field(1000, ge=1)
    history_page_max: int = Field(100_000, ge=1)
    secret_key: Optional[str] = None  # signs artifact URLs; default: a random key kept in <home>
    url_ttl_seconds: int = Field(3600, ge=1)

    # resource guard (checked before queueing)
    max_parameters: int = Field(200_000_000, ge=1)
    max_activation_bytes: int = Field(8 * 2**30, ge=1)

    # worker and reliability
    # training processes of a worker (runs trained at once); torch threads = cores / concurrency;
    # "auto": one per core (at most 8) on CPU, 1 on a GPU (see auto_concurrency)
    worker_concurrency: Union[Literal["auto"], Annotated[int, Field(ge=1, le=64)]] = "auto"
    lease_seconds: float = Field(30.0, gt=0)
    heartbeat_seconds: float = Field(5.0, gt=0)
    max_attempts: int = Field(3, ge=1, le=100)
    sweep_interval_seconds: float = Field(5.0, gt=0)
    # a run still queued this long after its message was sent is sent again (its message may be
    # lost), at most once per this period; default max(60 s, 10 leases)
    requeue_after_seconds: Optional[float] = Field(None, gt=0)
    # progress and metrics events of runs finished this long ago are deleted (status events stay)
    event_retention_seconds: float = Field(7 * 24 * 3600, gt=0)
    metric_flush_seconds: float = Field(1.0, gt=0)
    # a run's checkpoints (only its latest is kept, to resume it) come at its spec's
    # `checkpoint_every` epochs but at least this long apart, and not before this long into its
    # training; the last epoch's and a stopping run's are always stored. 0: every one
    checkpoint_min_seconds: float = Field(5.0, ge=0)
    visibility_timeout: int = Field(7 * 24 * 3600, ge=60)
    broker_polling_interval: float = Field(0.1, gt=0)
    # seed ensembles: a worker trains up to this many queued sibling runs (same spec but the seed)
    # of an MLP experiment together in one batched pass; 1 turns it off
    ensemble_max: int = Field(8, ge=1, le=64)
    # on CPU a seed ensemble's numbers are close to (rtol 1e-4), not bit-identical with, the same
    # seed trained alone (batched matmuls and reductions round differently with the group size), so
    # by default CPU workers train every run alone: a run's history then does not depend on which
    # siblings were queued or on ensemble_max. True trades that for the ensemble's speed on CPU.
    ensemble_on_cpu: bool = False

    @field_validator("database_url")
    @classmethod
    def _db_scheme(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not v.startswith(("sqlite", "postgresql")):
            raise ValueError(f"SKIPCORE_DATABASE_URL must be sqlite:// or postgresql+psycopg://, got {v!r}")
        if v is not None and v.startswith("postgresql://"):
            v = "postgresql+psycopg://" + v[len("postgresql://") :]
        return v

    @field_validator("worker_concurrency", mode="before")
    @classmethod
    def _concurrency(cls, v: object) -> object:
        text = str(v).strip().lower()
        if text == "auto":
            return "auto"
        if not text.isdigit() or not 1 <= int(text) <= 64:
            raise ValueError(f"SKIPCORE_WORKER_CONCURRENCY must be 'auto' or a whole number from 1 to 64, got {v!r}")
        return int(text)

    @field_validator("object_store_url")
    @classmethod
    def _store_scheme(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not v.startswith(("file://", "s3://")):
            raise ValueError(f"SKIPCORE_OBJECT_STORE_URL must be file:///path or s3://bucket[/prefix], got {v!r}")
        return v

    @model_validator(mode="after")
    def _defaults(self) -> "Settings":
        self.home = self.home.expanduser().absolute()
        if self.database_url is None:
            self.database_url = f"sqlite:///{self.home / 'skipcore.db'}"
        if self.broker_url is None:
            self.broker_url = "filesystem://"
        if self.object_store_url is None:
            self.object_store_url = f"file://{self.home / 'objects'}"
        if self.data_root is None:
            self.data_root = self.home / "data"
        if self.require_auth is None:
            self.require_auth = self.profile == "production"
        if self.worker_concurrency == "auto":
            self.worker_concurrency = auto_concurrency(self.device)
        if self.heartbeat_seconds >= self.lease_seconds:
            raise ValueError(
                f"SKIPCORE_HEARTBEAT_SECONDS ({self.heartbeat_seconds}) must be below SKIPCORE_LEASE_SECONDS ({self.lease_seconds})"
            )
        return self

    @property
    def broker_dir(self) -> Path:
        return self.home / "broker"

    @property
    def requeue_after(self) -> float:
        if self.requeue_after_seconds is not None:
            return self.requeue_after_seconds
        return max(60.0, 10 * self.lease_seconds)

    def signing_key(self) -> bytes:
        """The key that signs artifact URLs: SKIPCORE_SECRET_KEY, else one kept in <home>/secret."""
        if self.secret_key:
            return self.secret_key.encode()
        path = self.home / "secret"
        if not path.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}")
            tmp.write_bytes(os.urandom(32).hex().encode())
            os.replace(tmp, path) if not path.exists() else tmp.unlink()
        return path.read_bytes().strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()
