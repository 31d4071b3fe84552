"""The user's own settings (R13): the union and member of `updateProfile`."""

from __future__ import annotations

from typing import Annotated

import strawberry

from gql_server.api.errors import AuthenticationRequired, InvalidInput
from gql_server.api.users import UserType


@strawberry.type
class ProfileUpdated:
    """The settings were saved; `user` shows them."""

    user: UserType


UpdateProfileResult = Annotated[
    ProfileUpdated | InvalidInput | AuthenticationRequired, strawberry.union("UpdateProfileResult")
]
