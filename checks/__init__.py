"""Check families: one module (or small package) per family, found automatically."""
