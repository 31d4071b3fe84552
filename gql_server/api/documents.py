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

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, parse, validate
from strawberry.extensions import SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from gql_server.limits import DOCUMENT_CACHE_SIZE

# What Strawberry's own validation adds to the rules it is given (strawberry.schema.schema.validate_document).
STRAWBERRY_RULES: tuple[type[ASTValidationRule], ...] = (MaybeNullValidationRule, OneOfInputValidationRule)


class CheckedDocuments(SchemaExtension):
    """Parse with a token limit and validate with extra rules, both cached per query text.

    With `hide_suggestions` (production, S28) no validation error suggests a name ("Did you mean ..."): not
    for fields, types, arguments, directive arguments, input fields or enum values.
    """

    def __init__(
        self, max_tokens: int, rules: Sequence[type[ASTValidationRule]], *, hide_suggestions: bool = False
    ) -> None:
        self._max_tokens = max_tokens
        self._rules = (*rules, *STRAWBERRY_RULES)
        self._hide_suggestions = hide_suggestions

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
            errors = _validate(context.schema._schema, text, rules, self._hide_suggestions)
            context.pre_execution_errors = list(errors)
        yield


@lru_cache(maxsize=DOCUMENT_CACHE_SIZE)
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


@lru_cache(maxsize=DOCUMENT_CACHE_SIZE)
def _validate(
    schema: GraphQLSchema, text: _Text, rules: tuple[type[ASTValidationRule], ...], hide_suggestions: bool
) -> tuple[GraphQLError, ...]:
    return tuple(validate(schema, text.document, rules, hide_suggestions=hide_suggestions))
