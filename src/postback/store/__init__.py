"""Persistence: one Store interface, SQLite and PostgreSQL behind it."""
