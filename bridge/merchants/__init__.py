"""Merchants: the Stripe accounts one deployment serves (Stripe App installs), each with its own
WhatsApp number, credentials (encrypted at rest) and mappings; the TOML file's is the default."""
