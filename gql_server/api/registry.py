"""The machinery of `outcomes.py`: a registry of translations from service outcomes to GraphQL types, and
each mutation's `Answers`, checked against it when built (at import, never in a request)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast, get_args

from strawberry.types import get_object_definition
from strawberry.types.union import StrawberryUnion

from gql_server.api.context import Info

OutcomeT = TypeVar("OutcomeT")  # a service outcome
TypeT = TypeVar("TypeT")  # the GraphQL type that answers it
ServiceUnionT = TypeVar("ServiceUnionT")  # a service's union of outcomes
UnionT = TypeVar("UnionT")  # a mutation's GraphQL union


class TranslationError(Exception):
    """The registry, or a mutation's answers, would leave an outcome without its GraphQL type."""


@dataclass(frozen=True)
class Translation(Generic[OutcomeT, TypeT]):
    """How one service outcome reaches the caller: as `graphql_type`, built by `build`."""

    outcome: type[OutcomeT]
    graphql_type: type[TypeT]
    build: Callable[[OutcomeT, Info], TypeT]


def translation(
    outcome: type[OutcomeT], graphql_type: type[TypeT], build: Callable[[OutcomeT, Info], TypeT]
) -> Translation[Any, Any]:
    """A Translation whose `build` mypy checks against `outcome` and `graphql_type` (a list of them would
    otherwise type every entry as Translation[Any, Any], and its lambdas would go unchecked)."""
    return Translation(outcome, graphql_type, build)


def graphql_name(graphql_type: type) -> str:
    """The name a Strawberry type has in the schema (not always its class name: `CustomerType` is Customer)."""
    return get_object_definition(graphql_type, strict=True).name


def union_name(union: object) -> str:
    """The schema name of `Annotated[A | B, strawberry.union("Name")]`."""
    for marker in get_args(union)[1:]:
        if isinstance(marker, StrawberryUnion) and marker.graphql_name:
            return marker.graphql_name
    raise TranslationError(f"{union!r} is not a named Strawberry union")


class Registry:
    """Every service outcome class and its one translation; refuses two for a class, or two names for one."""

    def __init__(self, translations: Iterable[Translation[Any, Any]]) -> None:
        self._table: dict[type, Translation[Any, Any]] = {}
        for entry in translations:
            outcome = entry.outcome.__name__
            if entry.outcome in self._table:
                raise TranslationError(f"{outcome} is translated twice")
            if graphql_name(entry.graphql_type) != outcome:
                # One vocabulary: the service's outcome and the caller's answer have the same name.
                raise TranslationError(f"{outcome} is answered as {graphql_name(entry.graphql_type)}")
            self._table[entry.outcome] = entry

    def get(self, outcome: type) -> Translation[Any, Any] | None:
        """The translation of an outcome class, if it has one."""
        return self._table.get(outcome)

    def outcomes(self) -> list[type]:
        """Every outcome class that has a translation."""
        return list(self._table)


class Answers(Generic[ServiceUnionT, UnionT]):
    """A mutation's answer: the service's union (auth/results.py) translated into the GraphQL union.

    Raises TranslationError when built if an outcome of the service's union has no translation in the
    registry, or one whose type is not a member of the GraphQL union.
    """

    def __init__(self, registry: Registry, union: object, outcomes: object) -> None:
        self.union = union_name(union)
        members = set(get_args(get_args(union)[0]))
        self.outcomes: tuple[type, ...] = get_args(outcomes) or (cast(type, outcomes),)
        self._translations: dict[type, Translation[Any, Any]] = {}
        for outcome in self.outcomes:
            entry = registry.get(outcome)
            if entry is None:
                raise TranslationError(f"{self.union}: no translation for the service outcome {outcome.__name__}")
            if entry.graphql_type not in members:
                raise TranslationError(f"{self.union} has no member {graphql_name(entry.graphql_type)}")
            self._translations[outcome] = entry

    def __call__(self, outcome: ServiceUnionT, info: Info) -> UnionT:
        """The union member for what the service answered (found complete when this was built)."""
        return cast(UnionT, self._translations[type(outcome)].build(outcome, info))
