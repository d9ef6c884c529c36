"""Invitations: a one-time link for a contact to create a partner account."""
