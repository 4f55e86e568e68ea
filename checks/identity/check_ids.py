"""The identity family's result ``check`` ids, in one place: the plan, the per-person
assertions and the pilot login all name them, and reports and filters match on them."""

from __future__ import annotations

FAMILY = "identity"
EXISTS = "identity.account-exists"
USABLE = "identity.account-usable"
PASSWORD = "identity.password-valid"  # noqa: S105 - a check id
MAIL = "identity.mail-attribute"
EXTENSION = "identity.extension"
ATTRIBUTES = "identity.attributes"
GROUP = "identity.group-member"
PILOT = "identity.pilot-login"
