"""Artifact file names and where artifacts live (S3 links in their many forms,
and download links on any other http(s) host).

An artifact is named ``{name}_{lang}_{lib_version}_{spark_version}_{epoch_ms}.zip``.
Names and languages may themselves contain underscores, dots and language-like
segments (``ner_clinical_large_en_en_3.0.0_3.0_1617193894127.zip``), so the name
is read from the right: the last three fields are fixed in shape, the field
before them is the language and everything else is the name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

_ARTIFACT_RE = re.compile(
    r"^(?P<stem>.+)_(?P<lib>\d+(?:\.\d+)+)_(?P<spark>\d+(?:\.\d+)*)_(?P<ts>\d{10,})\.zip$"
)
# A link destination sometimes carries junk before the scheme: ``||https://...``.
_SCHEME_RE = re.compile(r"(?:https?|s3)://", re.IGNORECASE)
_S3_HOST_RE = re.compile(r"^s3(?:[.-][a-z0-9-]+)?\.amazon(?:aws)?\.com$", re.IGNORECASE)
_VHOST_RE = re.compile(r"^(?P<bucket>.+)\.s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com$", re.IGNORECASE)
CANONICAL_HTTPS = "https://s3.amazonaws.com"


@dataclass(frozen=True, slots=True)
class ArtifactName:
    """The fields encoded in an artifact's file name."""

    file: str
    name: str
    language: str
    lib_version: str
    spark_version: str
    timestamp: int


def parse_artifact_name(file: str) -> ArtifactName | None:
    """Splits ``{name}_{lang}_{lib}_{spark}_{epoch_ms}.zip``; ``None`` when the
    file name does not follow the grammar."""
    m = _ARTIFACT_RE.match(file)
    if m is None:
        return None
    name, sep, lang = m.group("stem").rpartition("_")
    if not sep or not name or not lang:
        return None
    return ArtifactName(
        file=file,
        name=name,
        language=lang,
        lib_version=m.group("lib"),
        spark_version=m.group("spark"),
        timestamp=int(m.group("ts")),
    )


@dataclass(frozen=True, slots=True)
class Location:
    """An object in S3, however the card spelled the link to it."""

    bucket: str
    key: str
    written: str  # the link as the card wrote it, junk removed
    canonical_host: bool  # False when the host was a misspelt S3 host

    @property
    def file(self) -> str:
        return self.key.rpartition("/")[2]

    @property
    def folder(self) -> str | None:
        return self.key.rpartition("/")[0] or None

    @property
    def download_url(self) -> str:
        return f"{CANONICAL_HTTPS}/{self.bucket}/{self.key}"

    @property
    def s3_uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


# The usual download link, in characters that URL parsing leaves as they are:
# read directly (the general path below gives the same Location for it).
_PLAIN_S3_URL_RE = re.compile(
    r"https://s3\.amazonaws\.com/([A-Za-z0-9._-]+)/([A-Za-z0-9._/-]*[A-Za-z0-9._-])"
    r"|s3://([A-Za-z0-9._-]+)/([A-Za-z0-9._-](?:[A-Za-z0-9._/-]*[A-Za-z0-9._-])?)"
)


def parse_location(link: str) -> Location | None:
    """Reads an S3 object location from an ``https://s3.amazonaws.com/<bucket>/<key>``
    URL, a virtual-hosted ``https://<bucket>.s3.amazonaws.com/<key>`` URL, an
    ``s3://<bucket>/<key>`` URI or an S3 console URL
    (``https://s3.console.aws.amazon.com/s3/object/<bucket>?prefix=<key>``).
    ``None`` for anything else."""
    m = _SCHEME_RE.search(link)
    if m is None:
        return None
    written = link[m.start() :].strip()
    plain = _PLAIN_S3_URL_RE.fullmatch(written)
    if plain is not None:
        bucket, key = (plain[1], plain[2]) if plain[1] is not None else (plain[3], plain[4])
        return Location(bucket=bucket, key=key, written=written, canonical_host=True)
    try:
        parts = urlsplit(written)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    path = unquote(parts.path)
    bucket = key = ""
    canonical = True
    if scheme == "s3":
        bucket, key = parts.netloc, path.lstrip("/")
    elif host.startswith("s3.console.aws.amazon.com") or host.endswith("console.aws.amazon.com"):
        segments = [s for s in path.split("/") if s]
        # /s3/object/<bucket> or /s3/buckets/<bucket>
        if len(segments) >= 3 and segments[0] == "s3":
            bucket = segments[2]
            prefix = parse_qs(parts.query).get("prefix", [""])[0]
            key = prefix.lstrip("/")
    elif _S3_HOST_RE.match(host):
        canonical = host.endswith("amazonaws.com")
        bucket, _, key = path.lstrip("/").partition("/")
    else:
        vm = _VHOST_RE.match(host)
        if vm is not None:
            bucket, key = vm.group("bucket"), path.lstrip("/")
    if not bucket or not key or key.endswith("/"):
        return None
    return Location(bucket=bucket, key=key, written=written, canonical_host=canonical)


@dataclass(frozen=True, slots=True)
class WebLocation:
    """A download link on a host that is not S3 (an artifact store, nginx,
    GitHub releases): fetched over HTTP(S) as written."""

    url: str
    written: str
    canonical_host: bool = True  # nothing to correct: the link is used as written
    folder: None = None  # an S3 folder; a web link has none
    s3_uri: None = None

    @property
    def file(self) -> str:
        return unquote(urlsplit(self.url).path).rpartition("/")[2]

    @property
    def download_url(self) -> str:
        return self.url


def parse_web_location(link: str) -> WebLocation | None:
    """An ``http(s)://host/.../file`` link on any host that is not S3 (for
    those, :func:`parse_location`), naming a file; ``None`` otherwise."""
    m = _SCHEME_RE.search(link)
    if m is None:
        return None
    written = link[m.start() :].strip()
    try:
        parts = urlsplit(written)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if parse_location(written) is not None:
        return None
    file = unquote(parts.path).rpartition("/")[2]
    if not file or file in (".", ".."):
        return None
    return WebLocation(url=written, written=written)
