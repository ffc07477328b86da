"""Errors the CLI turns into one clear line on stderr."""


class BxopsError(Exception):
    """A problem the user can fix: bad input, a missing file, an unreachable database."""


class ContractError(BxopsError):
    """A contract file is missing or invalid."""


class LedgerUnavailable(BxopsError):
    """The ledger database cannot be opened."""


class RunRefused(BxopsError):
    """A run was refused before it started (for example: the pool cannot cover it)."""
