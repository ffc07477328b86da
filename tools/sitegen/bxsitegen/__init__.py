"""bxsitegen: lays down a faithful stand-in of a 1C-Bitrix site for the bxops tests (stdlib only)."""

VERSION = "1.0.0"
