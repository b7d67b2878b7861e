"""Delivery channels: one module per backend behind the `Sender` protocol."""
