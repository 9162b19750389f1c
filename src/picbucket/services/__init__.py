"""Use cases: what a person can do, written against the ports only."""
