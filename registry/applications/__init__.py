"""Applications: an organisation applies to become a partner; a coordinator reviews it."""
