"""The ``vitals`` console script: the operator's commands over every layer."""
