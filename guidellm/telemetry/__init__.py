"""The server's own view of a run: its Prometheus metrics, scraped while the load runs,
lined up with the client's numbers (docs/metrics.md, "The server's view")."""
