"""The GraphQL layer: Strawberry types and resolvers that translate service outcomes, holding no rules."""
