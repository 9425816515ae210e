"""Pushes: stock levels and prices sent to a push marketplace (ShoppingFeed), only what changed
since the value it last acknowledged, and the nightly stock check (:mod:`.flows`)."""
