"""Shared network services of the core (no check protocol): DNS of any record type,
vantage points (streams from where a site stands, TLS over them, UDP where possible),
the organisations' trust stores, and certificate judgement."""
