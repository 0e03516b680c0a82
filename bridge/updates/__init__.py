"""What Meta reports back on its webhook: message statuses, the customer's replies, template changes."""
