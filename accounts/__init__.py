"""Workspaces, people who sign in, their roles and keys, what they did and what they used."""
