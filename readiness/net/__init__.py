"""Shared network services of the core (no check protocol): DNS of any record type,
vantage points (streams from where a site stands, UDP where possible), TLS over any
stream, certificates judged at go-live, and the organisations' trust stores."""
