"""The web console: server-rendered pages (Jinja2, htmx, Chart.js) over the services."""
