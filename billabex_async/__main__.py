"""CLI layer: ``python -m billabex_async`` runs the ``billabex`` command."""

from billabex_async.cli import main

main()
