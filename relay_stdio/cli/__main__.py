"""``python -m relay_stdio.cli``: the ``relay`` command without its console script."""

from relay_stdio.cli import main

main()
