"""Network building blocks shared by the check families (streams, TLS, certificates)."""
