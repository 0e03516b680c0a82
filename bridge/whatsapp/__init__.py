"""Everything about the WhatsApp Business Cloud API: requests, Meta's error codes, phone numbers.

The only package that imports httpx; its errors are translated in `client`.
"""
