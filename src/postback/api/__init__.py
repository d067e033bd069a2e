"""The admin and affiliate REST API under /api/v1."""
