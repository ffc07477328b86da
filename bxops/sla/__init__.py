"""Service levels: the contract's SLA terms, business calendars and the clocks of incidents (issue 15)."""
