"""Authentication services: plain async code, no GraphQL inside. Every rule lives here once."""
