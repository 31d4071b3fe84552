"""gql_server: a GraphQL authentication service with enforced two-factor login."""

__version__ = "0.1.0"
