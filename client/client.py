"""A typed HTTP client of the skipcore API (docs/api.md). httpx only: no torch, no server imports.

    from client import Client
    with Client("http://127.0.0.1:8000") as c:
        exp = c.submit(spec)
        for ev in c.events(exp.runs[0].id):
            print(ev.event, ev.data)
        print(c.wait(exp.id).status, c.aggregate(exp.id).points[0].metrics["val_loss"].mean)

Every 4xx/5xx raises `ApiError(status, detail)` with the server's message.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Union

import httpx

from client import ids as _ids
from client.errors import ApiError, ChecksumError
from client.ids import AmbiguousId
from client.errors import check as _check
from client.models import (FINISHED, Aggregate, AggregatePoint, Artifact, CompareItem, Comparison, Event, Experiment,
                           LayerMatrix, LayerStat, Point, Probe, Progress, Run, Stat)
from client.models import probe_of as _probe
from client.sse import sse_fields as _sse_fields

__all__ = ["DEFAULT_URL", "FINISHED", "Aggregate", "AmbiguousId", "AggregatePoint", "ApiError", "Artifact", "ChecksumError", "Client",
           "CompareItem", "Comparison", "Event", "Experiment", "LayerMatrix", "LayerStat", "Point", "Probe",
           "Progress", "Run", "Stat"]

DEFAULT_URL = "http://127.0.0.1:8000"


class Client:
    """`url` defaults to $SKIPCORE_URL (else http://127.0.0.1:8000), `api_key` to $SKIPCORE_API_KEY.
    `http` wraps an existing httpx.Client (for example a FastAPI TestClient) instead."""

    def __init__(self, url: Optional[str] = None, api_key: Optional[str] = None, *, timeout: float = 30.0,
                 http: Optional[httpx.Client] = None) -> None:
        self.url = (url or os.environ.get("SKIPCORE_URL") or DEFAULT_URL).rstrip("/")
        api_key = api_key if api_key is not None else os.environ.get("SKIPCORE_API_KEY") or None
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._owned = http is None
        self._http = http or httpx.Client(base_url=self.url, timeout=timeout)
        self._stream_timeout = httpx.Timeout(timeout, read=max(60.0, timeout))

    def close(self) -> None:
        if self._owned:
            self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- plumbing

    def _request(self, method: str, path: str, **kw: Any) -> Any:
        headers = {**self._headers, **kw.pop("headers", {})}
        r = self._http.request(method, path, headers=headers, **kw)
        _check(r)
        return r.json()

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """GET `path` page by page: each body in turn, passing its `next_cursor` on until there is none."""
        cursor: Optional[str] = None
        while True:
            page = self._request("GET", path, params={**params, **({"cursor": cursor} if cursor else {})})
            yield page
            cursor = page.get("next_cursor")
            if not cursor:
                return

    # -- experiments

    def submit(self, spec: dict[str, Any], idempotency_key: Optional[str] = None) -> Experiment:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return Experiment.of(self._request("POST", "/v1/experiments", json=spec, headers=headers))

    def get_experiment(self, experiment_id: str) -> Experiment:
        return Experiment.of(self._request("GET", f"/v1/experiments/{experiment_id}"))

    def list_experiments(self, status: Optional[str] = None, page_size: Optional[int] = None) -> Iterator[Experiment]:
        """Every experiment (newest first), following the cursors page by page."""
        params = {k: v for k, v in (("status", status), ("limit", page_size)) if v}
        for page in self._pages("/v1/experiments", params):
            yield from (Experiment.of(e) for e in page["items"])

    def resolve_experiment(self, id_or_prefix: str) -> str:
        """The full id of the one experiment whose id is or starts with `id_or_prefix` (404 if none;
        `AmbiguousId`, listing them, if several)."""
        return _ids.experiment_id(self, id_or_prefix)

    def resolve_run(self, id_or_prefix: str) -> str:
        """The full id of the one run whose id is or starts with `id_or_prefix`."""
        return _ids.run_id(self, id_or_prefix)

    def cancel(self, experiment_id: str) -> Experiment:
        return Experiment.of(self._request("POST", f"/v1/experiments/{experiment_id}/cancel"))

    def cancel_run(self, run_id: str) -> Run:
        """Cancel one run of an experiment; the others go on."""
        return Run.of(self._request("POST", f"/v1/runs/{run_id}/cancel"))

    def wait(self, experiment_id: str, timeout: Optional[float] = None, poll: float = 0.5) -> Experiment:
        """Poll until the experiment is succeeded, failed or cancelled; TimeoutError after `timeout` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            exp = self.get_experiment(experiment_id)
            if exp.finished:
                return exp
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"experiment {experiment_id} still {exp.status} after {timeout}s")
            time.sleep(poll)

    # -- runs

    def get_run(self, run_id: str) -> Run:
        return Run.of(self._request("GET", f"/v1/runs/{run_id}"))

    def metric_keys(self, run_id: str) -> list[str]:
        return list(self._request("GET", f"/v1/runs/{run_id}/metrics")["keys"])

    def metric_history(self, run_id: str, key: str, *, max_points: Optional[int] = None,
                       page_size: Optional[int] = None, step_min: Optional[int] = None,
                       step_max: Optional[int] = None) -> list[Point]:
        """The whole history (following cursors), or at most `max_points` downsampled points."""
        base = {k: v for k, v in (("step_min", step_min), ("step_max", step_max)) if v is not None}
        path = f"/v1/runs/{run_id}/metrics/{key}"
        if max_points is not None:
            body = self._request("GET", path, params={**base, "max_points": max_points})
            return [Point(**p) for p in body["points"]]
        params = {**base, **({"limit": page_size} if page_size else {})}
        return [Point(**p) for body in self._pages(path, params) for p in body["points"]]

    def layers(self, run_id: str, name: Optional[str] = None, step: Optional[int] = None) -> list[LayerStat]:
        params = {k: v for k, v in (("name", name), ("step", step)) if v is not None}
        body = self._request("GET", f"/v1/runs/{run_id}/layers", params=params)
        return [LayerStat(s["name"], s["step"], s["values"]) for s in body["stats"]]

    def layer_matrix(self, run_id: str, name: str = "weight_mean_abs", max_steps: Optional[int] = None) -> LayerMatrix:
        params: dict[str, Any] = {"name": name, **({"max_steps": max_steps} if max_steps else {})}
        b = self._request("GET", f"/v1/runs/{run_id}/layers/matrix", params=params)
        return LayerMatrix(b["name"], b["layers"], b["steps"], b["values"])

    def probes(self, run_id: str) -> list[Probe]:
        return [_probe(p) for p in self._request("GET", f"/v1/runs/{run_id}/probes")["items"]]

    def probe(self, run_id: str, name: str) -> Probe:
        return _probe(self._request("GET", f"/v1/runs/{run_id}/probes/{name}"))

    def artifacts(self, run_id: str) -> list[Artifact]:
        return [Artifact(**{k: a[k] for k in ("name", "kind", "size", "sha256", "url")},
                         content_type=a.get("content_type", "application/octet-stream"))
                for a in self._request("GET", f"/v1/runs/{run_id}/artifacts")["items"]]

    def download(self, artifact: Artifact, dest: Union[str, Path, None] = None) -> bytes | Path:
        """The artifact's bytes (or, with `dest`, the file written there), its sha256 verified."""
        digest, chunks = hashlib.sha256(), []
        path = Path(dest) if dest is not None else None
        tmp = path.with_name(path.name + ".part") if path else None
        with self._http.stream("GET", artifact.url, headers=self._headers) as r:
            if r.status_code >= 400:
                r.read()
                _check(r)
            out = open(tmp, "wb") if tmp else None
            try:
                for chunk in r.iter_bytes():
                    digest.update(chunk)
                    out.write(chunk) if out else chunks.append(chunk)
            finally:
                if out:
                    out.close()
        if digest.hexdigest() != artifact.sha256:
            if tmp:
                tmp.unlink(missing_ok=True)
            raise ChecksumError(f"{artifact.name}: sha256 {digest.hexdigest()} != listed {artifact.sha256}")
        if path and tmp:
            os.replace(tmp, path)
            return path
        return b"".join(chunks)

    # -- results

    def aggregate(self, experiment_id: str, metrics: Optional[Iterable[str]] = None,
                  layers: Optional[Iterable[str]] = None) -> Aggregate:
        params = {k: ",".join(v) for k, v in (("metric", metrics), ("layers", layers)) if v}
        b = self._request("GET", f"/v1/experiments/{experiment_id}/aggregate", params=params)
        return Aggregate(b.get("experiment_id", experiment_id), [
            AggregatePoint(p["params"], p["n"], p.get("runs", {}), p.get("run_ids", []),
                           {k: Stat.of(s) for k, s in p["metrics"].items()}, p.get("layers"))
            for p in b["points"]], b.get("metrics", []))

    def compare(self, experiment_ids: Iterable[str], metrics: Optional[Iterable[str]] = None) -> Comparison:
        params = {"experiments": ",".join(experiment_ids), **({"metric": ",".join(metrics)} if metrics else {})}
        b = self._request("GET", "/v1/compare", params=params)
        return Comparison([CompareItem(e["id"], e["name"], e["status"], e["spec"], e["runs"],
                                       {k: Stat.of(s) for k, s in e["summary"].items()})
                           for e in b["experiments"]], b["metrics"])

    # -- live events

    def events(self, run_id: str, last_event_id: Optional[str] = None, *, reconnect: bool = True,
               max_retries: int = 10) -> Iterator[Event]:
        """The run's Server-Sent Events until its final status. A dropped connection is resumed
        with `Last-Event-ID` (no event twice), waiting the server's `retry:` between tries."""
        retry_s, failures = 1.0, 0
        while True:
            got_any, final = False, False
            headers = {**self._headers, "Accept": "text/event-stream"}
            if last_event_id is not None:
                headers["Last-Event-ID"] = str(last_event_id)
            try:
                with self._http.stream("GET", f"/v1/runs/{run_id}/events", headers=headers,
                                       timeout=self._stream_timeout) as r:
                    if r.status_code >= 400:
                        r.read()
                        _check(r)
                    for kind, value in _sse_fields(r.iter_lines()):
                        if kind == "retry":
                            retry_s = value / 1000.0
                            continue
                        ev: Event = value
                        if ev.id is not None:
                            last_event_id = ev.id
                        got_any, failures = True, 0
                        yield ev
                        if ev.event == "status" and isinstance(ev.data, dict) and ev.data.get("status") in FINISHED:
                            final = True
                            return
            except httpx.TransportError:
                failures += 1
                if not reconnect or failures > max_retries:
                    raise
                time.sleep(retry_s)
                continue
            if final or not got_any or not reconnect:
                return  # the server ended the stream: the run is over (or nothing more will come)

