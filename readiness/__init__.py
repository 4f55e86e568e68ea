"""Day-1 readiness harness: the core (inventory, engine, results, reports, CLI)."""
