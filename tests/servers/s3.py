"""A local S3: moto's server mode, spoken to by boto3 and by plain HTTP GETs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

DEFAULT_BUCKET = "auxdata.johnsnowlabs.com"


@dataclass
class LocalS3:
    endpoint: str  # http://127.0.0.1:PORT

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def ensure_bucket(self, bucket: str = DEFAULT_BUCKET) -> None:
        client = self.client()
        try:
            client.head_bucket(Bucket=bucket)
        except Exception:
            client.create_bucket(Bucket=bucket)

    def put(
        self,
        key: str,
        body: bytes,
        *,
        bucket: str = DEFAULT_BUCKET,
        public: bool = True,
        **extra: Any,
    ) -> str:
        """Uploads ``body``; returns its unsigned path-style HTTP URL."""
        self.ensure_bucket(bucket)
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key, "Body": body, **extra}
        if public:
            kwargs["ACL"] = "public-read"
        self.client().put_object(**kwargs)
        return self.url(key, bucket=bucket)

    def corrupt(self, key: str, *, bucket: str = DEFAULT_BUCKET) -> None:
        """Flips one byte of the stored object in place (rot on the server):
        its ETag, parts and checksums stay as they were.  moto's server runs
        in this process, so its store is at hand."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.s3.models import s3_backends

        obj = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_object(bucket, key)
        data = bytearray(obj.value)
        data[len(data) // 2] ^= 0xFF
        obj.value = bytes(data)

    def url(self, key: str, *, bucket: str = DEFAULT_BUCKET) -> str:
        return f"{self.endpoint}/{bucket}/{key}"

    def reset(self) -> None:
        import requests

        requests.post(f"{self.endpoint}/moto-api/reset", timeout=10).raise_for_status()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[LocalS3]:
    """One moto S3 server per test session, on a free loopback port."""
    from moto.server import ThreadedMotoServer

    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(var, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield LocalS3(endpoint=f"http://{host}:{port}")
    finally:
        server.stop()


@pytest.fixture
def s3(s3_server: LocalS3) -> Iterator[LocalS3]:
    """The session's S3 server, emptied before each test."""
    s3_server.reset()
    yield s3_server
