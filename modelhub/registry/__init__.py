"""The registry: catalog, resolution, fetching and the local cache."""

from modelhub.registry.artifact import Artifact, Source

__all__ = ["Artifact", "Source"]
