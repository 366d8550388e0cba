"""Personal data under per-customer keys (crypto-shredding): docs/privacy.md."""
