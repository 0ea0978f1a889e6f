"""Mirrors for air-gapped sites and lock files: the mirror format
(:mod:`.format`, also read by the local source), export, import and lock
files.  Export, import and locks sit on top of pulling; the format module
depends only on the store.
"""
