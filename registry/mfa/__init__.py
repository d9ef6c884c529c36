"""Two-step sign-in (ASVS 6.3.3): TOTP codes from an authenticator app, and recovery codes."""
