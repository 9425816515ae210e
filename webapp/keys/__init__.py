"""Digital keys: a store's key pool (upload, levels, alerts) and the one way a key is given
to an order line (:func:`webapp.keys.pool.claim`). Codes are encrypted and fingerprinted by
:mod:`webapp.keys.codes`; the table is ``webapp.models.keys``."""
