"""The client's monthly report (issue 16): `runner.py report CLIENT --month YYYY-MM`."""
