"""The local cache on disk: layout and names (:mod:`.layout`), entry records
(:mod:`.manifest`), locks and leases (:mod:`.locks`), the :class:`Store`
itself (:mod:`.store`: partial files, staging, atomic install), listing
(:mod:`.inventory`), verification (:mod:`.integrity`) and removal
(:mod:`.maintenance`).  The lowest part of the registry: it imports none of
catalog, fetch, pulling or mirror.
"""
