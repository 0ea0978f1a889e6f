"""The exception hierarchy of modelhub: every error the library raises on purpose
derives from :class:`ModelhubError`, so callers can catch one type.

Each message names the file, model or URL involved and what to do about it.
"""

from __future__ import annotations

from collections.abc import Sequence


class ModelhubError(Exception):
    """Base class of every error modelhub raises on purpose."""

    #: CLI exit status for this kind of failure (2 = usage or error).
    exit_code: int = 2


class ConfigError(ModelhubError):
    """The configuration file or an environment variable has a bad value."""


class OptionError(ConfigError, ValueError):
    """An argument given to a function or a CLI flag has a bad value (``device``,
    ``dtype``, ``engine``, ``precision``, ...). The message says what is accepted.
    Also a ``ValueError``, so callers that caught that keep working."""


class CardError(ModelhubError):
    """A model card could not be read or parsed.

    ``path`` is the file (or ``None`` for text without a file), ``line`` the
    1-based line where the problem is, when known.
    """

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        self.path = path
        self.line = line
        self.reason = message
        where = path or "<text>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {message}")


class CatalogError(ModelhubError):
    """The catalog (cards, metadata.json, cached index) could not be built or read."""


class ModelNotFound(ModelhubError):
    """No artifact matches the requested name/language/version.

    ``suggestions`` holds close names ("did you mean"), ``languages`` the
    languages the name exists in.
    """

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        name: str | None = None,
        language: str | None = None,
        suggestions: Sequence[str] = (),
        languages: Sequence[str] = (),
        url: str | None = None,
    ) -> None:
        self.name = name
        self.language = language
        self.suggestions = tuple(suggestions)
        self.languages = tuple(languages)
        self.url = url
        super().__init__(message)


class FetchError(ModelhubError):
    """A download failed after the allowed retries (network, HTTP status, disk)."""

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None) -> None:
        self.url = url
        self.status = status
        super().__init__(message)


class AccessDenied(FetchError):
    """The source refused access (401/403): credentials are missing or wrong."""


class Unreachable(FetchError):
    """A source could not be reached at all: its host name does not resolve,
    the connection was refused or there is no route to it.  Not retried (a
    retry gives the same answer); with every source unreachable, the model is
    simply not available here (exit status 1, like a model not cached)."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        host: str | None = None,
        reason: str = "unreachable",
    ) -> None:
        self.host = host
        self.reason = reason  # "dns" | "refused" | "unreachable"
        super().__init__(message, url=url)


class IntegrityError(ModelhubError):
    """Downloaded or cached bytes do not match what was expected."""

    def __init__(
        self,
        message: str,
        *,
        artifact: str | None = None,
        expected: str | None = None,
        actual: str | None = None,
    ) -> None:
        self.artifact = artifact
        self.expected = expected
        self.actual = actual
        super().__init__(message)


class UnsafeArchiveError(IntegrityError):
    """An archive holds paths or sizes that could escape or exhaust the cache."""


class NotCachedError(ModelhubError):
    """Offline mode is on and the requested artifact is not in the cache."""

    exit_code = 1


class CacheError(ModelhubError):
    """The cache directory is unusable or an operation on it was refused."""


class ArtifactFormatError(ModelhubError):
    """An artifact's files are not in the layout its format promises."""


class NoLoaderError(ModelhubError):
    """No installed loader accepts an artifact."""


class EngineUnavailable(ModelhubError, RuntimeError):
    """An inference engine asked for by name (``engine="onnx"``) cannot run
    this model here: not installed, or the model could not be exported."""


__all__ = [
    "AccessDenied",
    "ArtifactFormatError",
    "CacheError",
    "CardError",
    "CatalogError",
    "ConfigError",
    "EngineUnavailable",
    "FetchError",
    "IntegrityError",
    "ModelNotFound",
    "ModelhubError",
    "NoLoaderError",
    "NotCachedError",
    "OptionError",
    "Unreachable",
    "UnsafeArchiveError",
]
