"""Parsing and validation of request documents, each distinct query text once (with S7's limits).

One extension in place of five (ParserCache, ValidationCache, MaxTokensLimiter, MaxAliasesLimiter,
QueryDepthLimiter, and DisableIntrospection in production): Strawberry runs every extension's hooks on
every request, which cost a `viewer` request more than its database lookup. The caches are keyed by the
query text, whose hash Python keeps, instead of the parsed document, which graphql-core hashes node by
node on every lookup. Same parser, same rules, same errors as the extensions it replaces.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import lru_cache

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, parse
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

# Distinct query texts kept: a frontend sends a few dozen; the bound stops unique texts from growing memory.
CACHE_SIZE = 256


class CheckedDocuments(SchemaExtension):
    """Parse with a token limit and validate with extra rules, both cached per query text."""

    def __init__(self, max_tokens: int, rules: Sequence[type[ASTValidationRule]]) -> None:
        self._max_tokens = max_tokens
        self._rules = tuple(rules)

    def on_parse(self) -> Iterator[None]:
        """Set the parsed document (syntax errors and the token limit raise as graphql-core's parser does)."""
        context = self.execution_context
        if context.graphql_document is None and context.query:
            context.graphql_document = _parse(context.query, self._max_tokens)
        yield

    def on_validate(self) -> Iterator[None]:
        """Set the validation errors, so that Strawberry does not validate again."""
        context = self.execution_context
        if context.graphql_document is not None and context.query:
            rules = (*context.validation_rules, *self._rules)
            text = _Text(context.query, context.graphql_document)
            context.pre_execution_errors = list(_validate(context.schema._schema, text, rules))
        yield


@lru_cache(maxsize=CACHE_SIZE)
def _parse(query: str, max_tokens: int) -> DocumentNode:
    return parse(query, max_tokens=max_tokens)


class _Text:
    """A parsed document that hashes and compares by its query text (cheap; the document's hash is not)."""

    __slots__ = ("document", "query")

    def __init__(self, query: str, document: DocumentNode) -> None:
        self.query = query
        self.document = document

    def __hash__(self) -> int:
        return hash(self.query)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Text) and other.query == self.query


@lru_cache(maxsize=CACHE_SIZE)
def _validate(
    schema: GraphQLSchema, text: _Text, rules: tuple[type[ASTValidationRule], ...]
) -> tuple[GraphQLError, ...]:
    return tuple(validate_document(schema, text.document, rules))
