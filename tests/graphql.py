"""Test helper: send the frontend's operation documents (schema/operations) over HTTP.

The implementation is the installed test kit's (gql_server.testing), the one plugin authors use.
"""

from __future__ import annotations

from gql_server.testing.client import OPERATIONS, GraphQLClient, operation

__all__ = ["OPERATIONS", "GraphQLClient", "operation"]
