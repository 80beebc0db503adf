"""Object store: LocalStore on a temp dir, S3Store against moto's server over real HTTP."""

from __future__ import annotations

import hashlib
import io
import os
import uuid

import pytest

from persistence.objects import LocalStore, ObjectNotFound, S3Store, make_store, validate_key
from persistence.settings import Settings

BAD_KEYS = [
    "",
    "/etc/passwd",
    "../secret",
    "a/../../b",
    "a/..",
    "a\\b",
    "a//b",
    "a/./b",
    "trailing/",
    "sp ace",
    "semi;colon",
    "ünïcode",
    "x" * 1025,
]


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalStore(tmp_path / "objects")
    server = request.getfixturevalue("s3_server")
    return S3Store(server.bucket, f"t{uuid.uuid4().hex[:8]}/objects", endpoint_url=server.endpoint_url)


def test_put_get_roundtrip_reports_size_and_sha256(store):
    data = os.urandom(3000)
    obj = store.put("runs/r1/ckpt.pt", data)
    assert (obj.size, obj.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert obj.uri == store.uri("runs/r1/ckpt.pt")
    assert store.key_from_uri(obj.uri) == "runs/r1/ckpt.pt"
    assert store.get("runs/r1/ckpt.pt") == data
    assert store.exists("runs/r1/ckpt.pt")


def test_put_file_like_streams_and_hashes(store):
    data = os.urandom(2_500_000)
    obj = store.put("big.bin", io.BytesIO(data), content_type="application/x-torch")
    assert (obj.size, obj.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    with store.open("big.bin", chunk_size=1 << 16) as chunks:
        got = b"".join(chunks)
    assert got == data


def test_overwrite_replaces_and_delete_is_idempotent(store):
    store.put("a.txt", b"one")
    store.put("a.txt", b"two")
    assert store.get("a.txt") == b"two"
    store.delete("a.txt")
    store.delete("a.txt")
    assert not store.exists("a.txt")
    with pytest.raises(ObjectNotFound):
        store.get("a.txt")
    with pytest.raises(ObjectNotFound):
        store.open("a.txt")


def test_empty_object(store):
    obj = store.put("empty", b"")
    assert (obj.size, obj.sha256) == (0, hashlib.sha256(b"").hexdigest())
    assert store.get("empty") == b""


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_are_rejected(store, key):
    with pytest.raises(ValueError):
        validate_key(key)
    with pytest.raises(ValueError):
        store.put(key, b"x")
    with pytest.raises(ValueError):
        store.get(key)


def test_local_store_stays_under_root_even_through_symlinks(tmp_path):
    root = tmp_path / "objects"
    outside = tmp_path / "outside"
    outside.mkdir()
    root.mkdir()
    (root / "link").symlink_to(outside)
    store = LocalStore(root)
    with pytest.raises(ValueError, match="outside"):
        store.put("link/escape.txt", b"x")
    assert not (outside / "escape.txt").exists()


def test_local_store_write_is_atomic(tmp_path):
    store = LocalStore(tmp_path)
    store.put("f.bin", b"old")

    class Boom(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, b):
            raise OSError("disk on fire")

    with pytest.raises(OSError, match="disk on fire"):
        store.put("f.bin", io.BufferedReader(Boom()))
    assert store.get("f.bin") == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]  # no temp file left


def test_put_rejects_text(tmp_path):
    with pytest.raises(TypeError):
        LocalStore(tmp_path).put("t", io.StringIO("text"))


def test_s3_multipart_upload(s3_server):
    store = S3Store(s3_server.bucket, "mp", endpoint_url=s3_server.endpoint_url)
    data = os.urandom(20 * 2**20)  # above the 8 MiB multipart threshold: 3 parts
    obj = store.put("big/ckpt.pt", io.BytesIO(data))
    assert (obj.size, obj.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert hashlib.sha256(b"".join(store.open("big/ckpt.pt"))).hexdigest() == obj.sha256
    head = store.client.head_object(Bucket=s3_server.bucket, Key="mp/big/ckpt.pt")
    assert "-" in head["ETag"]  # a multipart ETag


def test_s3_bucket_is_created_when_missing(s3_server):
    bucket = f"fresh-{uuid.uuid4().hex[:10]}"
    store = S3Store(bucket, "", endpoint_url=s3_server.endpoint_url)
    assert store.put("k", b"v").uri == f"s3://{bucket}/k"
    assert store.get("k") == b"v"
    S3Store(bucket, "", endpoint_url=s3_server.endpoint_url).ensure_bucket()  # idempotent


def test_make_store_from_settings(tmp_path, s3_server):
    local = make_store(Settings(home=tmp_path))
    assert isinstance(local, LocalStore) and local.root == tmp_path / "objects"
    s3 = make_store(
        Settings(home=tmp_path, object_store_url=f"s3://{s3_server.bucket}/pre/fix", s3_endpoint_url=s3_server.endpoint_url)
    )
    assert isinstance(s3, S3Store) and (s3.bucket, s3.prefix) == (s3_server.bucket, "pre/fix")
    assert s3.put("x", b"1").uri == f"s3://{s3_server.bucket}/pre/fix/x"
    with pytest.raises(ValueError):
        make_store(Settings(home=tmp_path, object_store_url="file://relative/path"))
