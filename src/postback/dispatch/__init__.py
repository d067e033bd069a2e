"""Delivery of outgoing postbacks: the workers of the transactional outbox.

- ``ssrf``: which addresses a postback may reach, and a resolver that enforces it.
- ``signing``: Standard Webhooks headers for POST deliveries.
- ``sender``: one HTTP attempt, always answered with an outcome, never an exception.
- ``worker``: the ``Dispatcher`` that claims due deliveries, sends them and records attempts.
"""
