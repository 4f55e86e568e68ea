"""Renderers of one result model (readiness.sweep.SweepReport): console, JSON, ..."""
