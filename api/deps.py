"""Dependencies as `Annotated` aliases: session, settings, the caller's key, lookups with 404.

FastAPI runs a plain `def` dependency in its thread pool, one hop each (a generator two: entering
and leaving); the ones that do no I/O are `async def`, so a request pays for a thread only where
the database is used: its route, a lookup below, a key's check, a session left with work to end."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, AsyncIterator, Optional

import anyio
from fastapi import Depends, Header, HTTPException, Path, Request
from starlette.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from api.errors import not_found
from api.state import AppState
from persistence.db import end_session, session_scope
from persistence.models import Experiment, Run
from persistence.repo import experiments as exp_repo
from persistence.repo import keys as key_repo
from persistence.repo import runs as run_repo
from persistence.settings import Settings

_RANK = {"read": 0, "write": 1, "admin": 2}


@dataclass(frozen=True)
class Principal:
    owner: str
    scope: str

    @property
    def sees_all(self) -> bool:
        return self.scope == "admin"

    @property
    def owner_filter(self) -> Optional[str]:
        return None if self.sees_all else self.owner


async def get_state(request: Request) -> AppState:
    return request.app.state.skipcore


StateDep = Annotated[AppState, Depends(get_state)]


async def get_settings_dep(state: StateDep) -> Settings:
    return state.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


async def get_session(state: StateDep) -> AsyncIterator[Session]:
    """A session for the request, ended as `session_scope` ends one: committed when the route
    returns, rolled back when it raises, then closed. Making one does no I/O (a connection is
    checked out on first use); ending one does only while a transaction is open (a route that
    committed has none), and then in the thread pool, never on the event loop."""
    session = state.sessions()
    ok = False
    try:
        yield session
        ok = True
    finally:
        if session.get_transaction() is None:
            session.close()
        else:
            with anyio.CancelScope(shield=True):  # a client gone mid-request still returns the connection
                await run_in_threadpool(end_session, session, ok)


SessionDep = Annotated[Session, Depends(get_session)]


def principal_of(state: AppState, authorization: Optional[str]) -> Principal:
    """The caller of a request with this Authorization header (a key is looked up in the database:
    call it off the event loop then); 401 when it names no key or a revoked one."""
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise HTTPException(401, "Authorization must be 'Bearer <api key>'", headers={"WWW-Authenticate": "Bearer"})
        with session_scope(state.sessions) as session:
            key = key_repo.lookup(session, token.strip())
            if key is None:
                raise HTTPException(401, "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"})
            return Principal(key.owner, key.scope)
    if state.settings.require_auth:
        raise HTTPException(401, "an API key is required: Authorization: Bearer <key>",
                            headers={"WWW-Authenticate": "Bearer"})
    return Principal("local", "admin")


async def get_principal(state: StateDep, authorization: Annotated[Optional[str], Header()] = None) -> Principal:
    if authorization:
        return await run_in_threadpool(principal_of, state, authorization)
    return principal_of(state, None)  # no key, no I/O


def require(scope: str):
    async def dep(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if _RANK[principal.scope] < _RANK[scope]:
            raise HTTPException(403, f"this API key has scope {principal.scope!r}; {scope!r} is needed")
        return principal

    return dep


ReadKey = Annotated[Principal, Depends(require("read"))]
WriteKey = Annotated[Principal, Depends(require("write"))]


def get_experiment(
    session: SessionDep, principal: ReadKey, experiment_id: Annotated[str, Path(max_length=64)]
) -> Experiment:
    exp = exp_repo.get(session, experiment_id, owner=principal.owner_filter)
    if exp is None:
        raise not_found("experiment", experiment_id)
    return exp


ExperimentDep = Annotated[Experiment, Depends(get_experiment)]


def visible_run(session: Session, principal: Optional[Principal], run_id: str) -> Run:
    """The run, or a 404 when it is unknown or (with a `principal`) not the principal's to see.
    `principal=None`: the caller proved access otherwise (a signed download link)."""
    run = run_repo.get(session, run_id)
    if run is None or (principal is not None and not principal.sees_all and run.experiment.owner != principal.owner):
        raise not_found("run", run_id)
    return run


def get_run(session: SessionDep, principal: ReadKey, run_id: Annotated[str, Path(max_length=64)]) -> Run:
    return visible_run(session, principal, run_id)


RunDep = Annotated[Run, Depends(get_run)]
