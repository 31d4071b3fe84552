"""The committed SDL matches the code, and the frontend's operation documents are valid against it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from graphql import build_schema as parse_sdl
from graphql import parse, validate

from gql_server.api.schema import build_schema

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "schema" / "schema.graphql"
OPERATIONS = sorted((ROOT / "schema" / "operations").glob("*.graphql"))
# Where `make check-contract` finds the product contract's checker: CONTRACT_TOOLS, as in the Makefile.
CONTRACT_CHECKER = Path(os.environ.get("CONTRACT_TOOLS", ROOT.parent / "shared" / "tools")) / "check_contract.py"


def test_committed_schema_matches_the_code():
    exported = build_schema().as_str() + "\n"

    assert SCHEMA_FILE.read_text(encoding="utf-8") == exported, (
        "schema/schema.graphql drifted: run `gql-server export-schema > schema/schema.graphql`"
    )


@pytest.mark.parametrize("path", OPERATIONS, ids=[p.stem for p in OPERATIONS])
def test_operation_documents_validate_against_the_schema(path):
    errors = validate(parse_sdl(SCHEMA_FILE.read_text(encoding="utf-8")), parse(path.read_text()))

    assert errors == []


def test_production_schema_is_the_same_schema():
    # Production only turns introspection and suggestions off; the contract is identical.
    assert build_schema(introspection=False, field_suggestions=False).as_str() == build_schema().as_str()


def test_the_exported_schema_honours_the_public_contract():
    """`make check-contract` as a test. The contract and its checker are kept beside the repository, not in it:
    a checkout without them skips this with the reason, except under CI=true, where that is a failure (as
    for PostgreSQL in tests/conftest.py), so CI can never pass without having checked the contract."""
    checker = CONTRACT_CHECKER
    if not checker.exists():
        reason = (
            f"the product contract's checker is not beside the repository ({checker}); set CONTRACT_TOOLS to its folder"
        )
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: CI must check the contract")
        pytest.skip(reason)

    result = subprocess.run(
        [sys.executable, str(checker), str(SCHEMA_FILE)], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "contract: holds" in result.stdout
