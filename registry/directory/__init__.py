"""The public family directory: partner services by school, for anyone, without an account."""
