"""`scalp-nautilus record`: raw market-data captures from Binance (USDT-M, COIN-M, spot) and Bybit
linear, in the format the capture importers read (see `scalp_nautilus.capture.run`)."""
