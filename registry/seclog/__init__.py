"""Security logging (ASVS V16): the security-event table's writer, its admin page and export,
login/logout signals, the hash chain and `verify-audit`."""
