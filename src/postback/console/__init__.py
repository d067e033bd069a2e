"""The web console: server-rendered pages (Jinja2, htmx, Chart.js) over the API's rules."""

from postback.console.app import install_console

__all__ = ["install_console"]
