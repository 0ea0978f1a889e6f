"""Getting an artifact's bytes: the download engine (:mod:`.download`, over
its ``Transport`` protocol), verification (:mod:`.verify`), archive
extraction under caps (:mod:`.archive`), the sources (:mod:`.sources`: one
module per kind and a registry of them) and :mod:`.fetcher`, which tries an
artifact's sources in order.  Depends on the store (staging, partial files);
never on the catalog, pulling or mirrors.
"""
