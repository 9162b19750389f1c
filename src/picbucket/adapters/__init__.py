"""Adapters: concrete implementations of the ports in ``picbucket.ports``."""
