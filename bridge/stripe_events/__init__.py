"""Everything about Stripe: webhook signatures, event shapes, Customers, sample events.

The only package that imports the stripe SDK; its errors are translated here.
"""
