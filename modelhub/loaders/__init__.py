"""Loaders: turn a verified cache entry into a model that runs inference."""

from modelhub.loaders.base import Loader

__all__ = ["Loader"]
