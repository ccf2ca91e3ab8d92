"""Subcommands of the ``cellseg-nb`` command line (see :mod:`cellseg_nb.cli`)."""
