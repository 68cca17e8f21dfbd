"""Chaos scenarios that ``make run`` executes, and the reference installer they break (``scenarios.installer``)."""
