"""Trading core above the venue adapters: order manager, pre-trade risk, client order ids."""
