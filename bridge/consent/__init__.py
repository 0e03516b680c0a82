"""Consent: what a customer's reply means (STOP, START), and whether a message may be sent at all."""
