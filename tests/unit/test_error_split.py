"""The worker's split of database errors: transient (retry), the data refused (dead letter), else stop."""

import asyncpg
import pytest

from workers.batch import is_data_refusal, is_transient_db_error


@pytest.mark.parametrize(
    ("error", "transient", "data"),
    [
        (asyncpg.exceptions.AdminShutdownError(), True, False),  # 57P01: a restart
        (asyncpg.exceptions.DeadlockDetectedError(), True, False),  # 40P01
        (asyncpg.exceptions.TooManyConnectionsError(), True, False),  # 53300
        (asyncpg.exceptions.ReadOnlySQLTransactionError(), True, False),  # 25006: a standby
        (asyncpg.exceptions.CharacterNotInRepertoireError(), False, True),  # 22021: a NUL byte
        (asyncpg.exceptions.CheckViolationError(), False, True),  # 23514: no partition for the row
        (asyncpg.exceptions.UndefinedTableError(), False, False),  # 42P01: a deploy problem, stop
        (asyncpg.exceptions.InsufficientPrivilegeError(), False, False),  # 42501
        (ConnectionResetError(), True, False),
        (
            asyncpg.InternalClientError("cannot switch to state 15; another operation (2) is in progress"),
            True,
            False,
        ),
        (ValueError("a bug"), False, False),
    ],
)
def test_error_split(error: BaseException, transient: bool, data: bool) -> None:
    assert is_transient_db_error(error) is transient
    assert is_data_refusal(error) is data
