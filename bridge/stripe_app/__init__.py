"""The Stripe App's backend: `/apps/v1`, called by the app's settings view inside the Stripe
Dashboard with a signature that proves which account and user is asking (`stripe-app/`)."""
