"""Tamper evidence for the event log: a hash chain written with every event, signed
checkpoints kept where the database cannot rewrite them, and a verifier that recomputes
everything (docs/privacy.md "Tamper evidence").

- `hashing`: what is hashed, byte for byte;
- `tables`: the chain and checkpoint tables, per engine;
- `recorders`: the library's recorders, chaining each event in its own write transaction;
- `keys`: the Ed25519 signing and verification keys, kept outside the data dir and database;
- `checkpoints`: signed checkpoints — made, stored, appended to a file, sent to Kafka;
- `verify`: recomputes the chain and checks every checkpoint.
"""
