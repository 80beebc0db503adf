"""Settings from the environment: SKIPCORE_WORKER_CONCURRENCY's `auto` default (one training process
per usable core, at most 8, on CPU; one where runs train on a GPU), explicit values, and bad values
refused with a message that names the variable."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from persistence.settings import AUTO_CONCURRENCY_MAX, Settings, usable_cores


@pytest.fixture
def env(monkeypatch, tmp_path):
    for k in list(os.environ):
        if k.startswith("SKIPCORE_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("SKIPCORE_HOME", str(tmp_path))
    return monkeypatch


def test_usable_cores_is_this_process_affinity():
    assert usable_cores() == len(os.sched_getaffinity(0))


def test_auto_is_one_process_per_core_on_cpu(env):
    env.setenv("SKIPCORE_DEVICE", "cpu")
    expected = min(len(os.sched_getaffinity(0)), AUTO_CONCURRENCY_MAX)
    assert Settings().worker_concurrency == expected  # the default
    env.setenv("SKIPCORE_WORKER_CONCURRENCY", "AUTO")
    assert Settings().worker_concurrency == expected


def test_auto_is_one_where_runs_train_on_a_gpu(env):
    env.setenv("SKIPCORE_DEVICE", "cuda")
    assert Settings().worker_concurrency == 1


def test_auto_ignores_a_driver_when_cuda_visible_devices_hides_every_gpu(env):
    env.setenv("SKIPCORE_DEVICE", "auto")
    env.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert Settings().worker_concurrency == min(usable_cores(), AUTO_CONCURRENCY_MAX)


@pytest.mark.parametrize("value, expected", [("1", 1), ("3", 3), (" 64 ", 64)])
def test_an_explicit_concurrency_is_kept(env, value, expected):
    env.setenv("SKIPCORE_WORKER_CONCURRENCY", value)
    assert Settings().worker_concurrency == expected


@pytest.mark.parametrize("value", ["0", "65", "two", "-1", "1.5", ""])
def test_a_bad_concurrency_names_the_variable(env, value):
    env.setenv("SKIPCORE_WORKER_CONCURRENCY", value)
    with pytest.raises(ValidationError) as info:
        Settings()
    assert "SKIPCORE_WORKER_CONCURRENCY must be 'auto' or a whole number from 1 to 64" in str(info.value)
    assert repr(value) in str(info.value)
