"""Where messages and read positions live: the interfaces (``base``) and the backends behind them."""
