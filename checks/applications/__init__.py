"""The applications family (HTTP(S), certificates, SSO redirects, pilot logins)."""

from .family import family

__all__ = ["family"]
