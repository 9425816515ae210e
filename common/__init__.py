"""Plain Python helpers that know neither Flask nor the database.

``connectors``, ``webapp`` and ``jobs`` may all use them; nothing here imports any of them.
"""
