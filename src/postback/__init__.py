"""postback: server-to-server conversion tracking and postbacks."""

__version__ = "0.1.0"
