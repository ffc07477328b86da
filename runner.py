#!/usr/bin/env python3
"""Run maintenance playbooks and keep the hour ledger: see `runner.py --help` and docs/runner.md."""

from bxops.cli import main

if __name__ == "__main__":
    main()
