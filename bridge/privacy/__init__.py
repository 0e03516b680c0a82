"""A customer's data: finding everything the bridge holds about a phone number, exporting it, erasing it."""
