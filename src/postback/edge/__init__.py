"""The hot endpoints, /click and /postback, as plain ASGI callables."""
