"""Deliveries: accepting events, the delivery record and its states, sending, retries, control."""
