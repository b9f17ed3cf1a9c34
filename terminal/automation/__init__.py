"""Automation: strategies armed per strategy x venue x symbol, fed by the live engine and the
webhook listener; their intents are sized under risk and executed through the OMS."""
