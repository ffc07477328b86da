"""Connectors to the clients' trackers (Jira, YouTrack, Bitrix24) behind one interface (issue 15)."""
