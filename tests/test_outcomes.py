"""One outcome vocabulary: every service outcome has one translation, named like the GraphQL type it becomes,
and a missing or misplaced translation is refused when the answers are built (at import), not in a request."""

from __future__ import annotations

import dataclasses
import types
from typing import get_args

import pytest
from graphql import GraphQLObjectType, GraphQLUnionType, get_named_type
from graphql import build_schema as parse_sdl

from gql_server.api import codes, errors, login
from gql_server.api.outcomes import ANSWERS, REGISTRY
from gql_server.api.registry import Answers, Registry, TranslationError, graphql_name, translation
from gql_server.api.schema import build_schema
from gql_server.auth import results

SDL = parse_sdl(build_schema().as_str())

# The unions the services answer, by name; PasswordAccepted is only a part of LoginResult and ResetPasswordResult.
SERVICE_UNIONS = {
    name: value
    for name, value in vars(results).items()
    if isinstance(value, types.UnionType) and name != "PasswordAccepted"
}
OUTCOMES = {cls for union in SERVICE_UNIONS.values() for cls in get_args(union)}


def _without(outcome: type) -> Registry:
    return Registry(t for o in REGISTRY.outcomes() if o is not outcome and (t := REGISTRY.get(o)) is not None)


def test_every_service_outcome_has_exactly_one_translation():
    assert OUTCOMES, "no outcome unions found in auth/results.py"
    untranslated = sorted(cls.__name__ for cls in OUTCOMES if REGISTRY.get(cls) is None)

    assert untranslated == []
    # ... and the registry translates nothing a service never answers.
    assert set(REGISTRY.outcomes()) == OUTCOMES


def test_every_service_union_is_answered_by_one_mutation_answer():
    assert {a.union: set(a.outcomes) for a in ANSWERS} == {
        name: set(get_args(union)) for name, union in SERVICE_UNIONS.items()
    }


def test_each_mutation_union_in_the_schema_has_its_answers():
    mutation = SDL.mutation_type
    assert mutation is not None
    unions = {
        named.name
        for field in mutation.fields.values()
        if isinstance(named := get_named_type(field.type), GraphQLUnionType)
    }

    assert unions == {a.union for a in ANSWERS}


@pytest.mark.parametrize("answers", ANSWERS, ids=[a.union for a in ANSWERS])
def test_each_translation_is_a_member_of_its_mutations_union_in_the_exported_schema(answers: Answers):
    union = SDL.type_map[answers.union]
    assert isinstance(union, GraphQLUnionType)
    members = {member.name for member in union.types}

    for outcome in answers.outcomes:
        translation = REGISTRY.get(outcome)
        assert translation is not None
        assert graphql_name(translation.graphql_type) in members, (outcome, answers.union)
    # The same vocabulary both ways: the union has no member the service never answers.
    assert {outcome.__name__ for outcome in answers.outcomes} == members


def test_service_outcomes_are_named_like_their_graphql_types():
    for outcome in REGISTRY.outcomes():
        translation = REGISTRY.get(outcome)
        assert translation is not None
        assert outcome.__name__ == graphql_name(translation.graphql_type)
    # Query answers too (Invitation, EnforcementImpact): every class of results.py is a type of the schema.
    for name, value in vars(results).items():
        if dataclasses.is_dataclass(value) and value.__module__ == results.__name__:
            assert isinstance(SDL.type_map.get(name), GraphQLObjectType), name


def test_an_answers_with_a_missing_translation_is_refused_when_built():
    registry = _without(results.ChallengeExpired)

    with pytest.raises(TranslationError, match="LoginResult: no translation for the service outcome ChallengeExpired"):
        Answers(registry, login.LoginResult, results.LoginResult)
    # The complete registry builds the same answers.
    assert Answers(REGISTRY, login.LoginResult, results.LoginResult).union == "LoginResult"


def test_a_translation_outside_the_mutations_union_is_refused_when_built():
    # LoginResult's outcomes include InvalidCredentials, which SendLoginCodeResult does not have.
    with pytest.raises(TranslationError, match="SendLoginCodeResult has no member"):
        Answers(REGISTRY, codes.SendLoginCodeResult, results.LoginResult)


def test_the_registry_refuses_two_translations_or_two_names_for_one_outcome():
    challenge_expired = REGISTRY.get(results.ChallengeExpired)
    assert challenge_expired is not None

    with pytest.raises(TranslationError, match="ChallengeExpired is translated twice"):
        Registry([challenge_expired, challenge_expired])
    with pytest.raises(TranslationError, match="ChallengeExpired is answered as InvalidCredentials"):
        Registry(
            [
                translation(
                    results.ChallengeExpired,
                    errors.InvalidCredentials,
                    lambda o, _: errors.InvalidCredentials(message=errors.INVALID_CREDENTIALS),
                )
            ]
        )


@pytest.mark.parametrize(
    ("reason", "message"), [(results.Wait.LIMIT, errors.THROTTLED), (results.Wait.BUSY, errors.BUSY)]
)
def test_too_many_attempts_keeps_why_in_its_message(reason: results.Wait, message: str):
    # Busy (P4: nothing was checked) and a reached limit are one union member with different messages.
    translation = REGISTRY.get(results.TooManyAttempts)
    assert translation is not None

    answer = translation.build(results.TooManyAttempts(retry_after_seconds=7, reason=reason), None)

    assert answer == errors.TooManyAttempts(message=message, retry_after_seconds=7)
