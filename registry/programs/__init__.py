"""Partner programs from a district's listing (PartnerBPS-style): one row per school × program."""
