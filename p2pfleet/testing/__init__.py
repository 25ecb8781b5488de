"""Test fixtures that are also used by `p2pfleet demo`: fault injection, fleets."""
