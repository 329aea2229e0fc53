"""handlingsplan: the reporting pipeline behind a kommun's integration plan."""
