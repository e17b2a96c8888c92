"""One module per CLI command: ``register(subparsers)`` adds it, ``run(args)`` carries it out."""
