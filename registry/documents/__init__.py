"""Documents kept for a partner or an MOU: upload, checks, storage, verification, download."""
