"""Ansible callback plugins that the runner puts on ANSIBLE_CALLBACK_PLUGINS for its own runs only."""
