"""The catalog: what models exist and which artifact a request means.

metadata (Spark NLP ``metadata.json`` lines), build (cards + metadata ->
records), index (the on-disk index file), catalog (:class:`Catalog`: open,
rebuild, status), search, resolve (name/lang/version -> :class:`Artifact`)
and sync (refreshing the metadata copies).  Depends on the registry's
records and, for sync, on the S3 client of :mod:`modelhub.registry.fetch`;
never on the store, pulling or mirrors.
"""
