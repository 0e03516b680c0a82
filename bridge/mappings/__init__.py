"""The mapping language: which Stripe event becomes which WhatsApp template, and its checks."""
