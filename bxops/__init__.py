"""bxops: the runner and hour ledger for managed support of 1C-Bitrix sites."""

__version__ = "0.1.0"
