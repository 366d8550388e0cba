"""`crm audit`: verify the hash-chained event log, sign a checkpoint now, rotate the signing key
(docs/privacy.md "Tamper evidence").

`crm audit verify` prints one line and exits 0 when everything checks (`OK …`), 1 when
something breaks (`FAILED at position …, event …: <how> — …`), 2 when it cannot verify (no
store there, no verification key for the checkpoints it found, an unreadable key or file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from services.cli.options import DataDir, PostgresUrl, fail, load_settings, require_store
from services.cli.progress import Progress
from services.common.audit_chain.checkpoints import (
    Checkpointer,
    CheckpointFileError,
    read_file,
)
from services.common.audit_chain.keys import (
    AuditKeyError,
    checkpoint_file_path,
    load_verify_keys,
    read_signing_key,
    read_verify_keys,
    signing_key_path,
    verify_key_path,
    write_key_pair,
)
from services.common.audit_chain.rechain import RechainRefused, rechain
from services.common.audit_chain.tables import chain_tables_of
from services.common.audit_chain.verify import VerifyKeyMissing, verify_log
from services.common.event_store import open_event_store
from services.common.settings import Settings

app = typer.Typer(help="Tamper evidence: verify the hash-chained log, sign checkpoints, rotate "
                  "the signing key (docs/privacy.md).", no_args_is_help=True)


@app.command("verify")
def audit_verify(
    from_position: Annotated[int | None, typer.Option(
        "--from", min=1, help="Start at this position, trusting the chain row before it "
        "[default: the first event]")] = None,
    verify_key: Annotated[Path | None, typer.Option(
        "--verify-key", help="File of the Ed25519 verification keys (PEM) [default: "
        "CRM_AUDIT_VERIFY_KEY_FILE, or the embedded store's <data dir>.audit/verify-keys.pem]")]
    = None,
    checkpoints: Annotated[Path | None, typer.Option(
        "--checkpoints", help="A checkpoint file (JSON lines) to check as well as the store's "
        "own checkpoints [default: CRM_AUDIT_CHECKPOINT_FILE, or <data dir>.audit/"
        "checkpoints.jsonl]")] = None,
    data_dir: DataDir = None,
    postgres_url: PostgresUrl = None,
) -> None:
    """Recompute every event's hash and the whole chain, and check every signed checkpoint.

    Prints `OK` with the counts and the last position (exit 0), or the first position and
    event that breaks and how (exit 1): content changed, event missing, reordered, inserted,
    chain altered, checkpoint signature wrong, checkpoint does not match.
    """
    settings = load_settings(data_dir=data_dir, postgres_url=postgres_url)
    require_store(settings)
    try:
        keys = load_verify_keys(settings, verify_key)
        file = checkpoints or checkpoint_file_path(settings)
        shipped = read_file(file) if file is not None else []
    except (AuditKeyError, CheckpointFileError) as exc:
        fail(str(exc), 2)
    if checkpoints is not None and not checkpoints.exists():
        fail(f"no checkpoint file {checkpoints}", 2)
    store = open_event_store(settings)
    try:
        with Progress("verifying the event log", unit="positions", rate_unit="positions") as shown:
            result = verify_log(store, keys, start=from_position, more_checkpoints=shipped,
                                progress=lambda done, total: shown.update(done, total))
    except VerifyKeyMissing as exc:
        fail(str(exc), 2)
    finally:
        store.close()
    typer.echo(result.line())
    raise typer.Exit(0 if result.ok else 1)


@app.command("checkpoint")
def audit_checkpoint(data_dir: DataDir = None, postgres_url: PostgresUrl = None) -> None:
    """Sign a checkpoint of the chain's head now: into the store, the checkpoint file and (with
    Kafka configured) the topic. `crm serve` makes them on its own as events arrive."""
    settings = load_settings(data_dir=data_dir, postgres_url=postgres_url)
    require_store(settings)
    store = open_event_store(settings)
    try:
        tables = chain_tables_of(store)
        if tables is None:
            fail("the in-memory store keeps no chain", 2)
        checkpointer = Checkpointer(tables, settings)
        try:
            made = checkpointer.checkpoint()
        except AuditKeyError as exc:
            fail(str(exc), 2)
        except RuntimeError as exc:  # no signing key configured
            fail(str(exc), 2)
        finally:
            checkpointer.close()
    finally:
        store.close()
    if made is None:
        typer.echo("nothing new to sign: the chain's head already has a checkpoint (or the log "
                   "is empty)")
        return
    places = ["the store"]
    if checkpointer.file is not None:
        places.append(str(checkpointer.file))
    if checkpointer.topic is not None:
        places.append(f"Kafka topic {checkpointer.topic}")
    typer.echo(f"checkpoint at position {made.position} ({made.count:,} events, chain "
               f"{made.chain_hash.hex()[:16]}, key {made.key_id}) written to "
               f"{', '.join(places)}")


@app.command("rotate-key")
def audit_rotate_key(data_dir: DataDir = None) -> None:
    """Make a new signing key: it replaces the signing key file, and its public key is added to
    the verification key file, where the old ones stay (old checkpoints still verify). A
    running server signs with the new key from its next checkpoint."""
    settings = load_settings(data_dir=data_dir)
    signing, verifying = signing_key_path(settings), verify_key_path(settings)
    if signing is None:
        fail("no signing key to rotate: set CRM_AUDIT_SIGNING_KEY_FILE", 2)
    if verifying is None:
        fail("set CRM_AUDIT_VERIFY_KEY_FILE first (holding the current public key), so the "
             "checkpoints signed so far stay verifiable after the rotation", 2)
    try:
        old = read_signing_key(signing).key_id if signing.exists() else None
        if old is not None and (not verifying.exists()
                                or old not in read_verify_keys(verifying).keys):
            fail(f"the verification key file {verifying} does not hold the current key {old}: "
                 "add its public key there first, or the checkpoints it signed stop verifying",
                 2)
        new = write_key_pair(signing, verifying)
    except AuditKeyError as exc:
        fail(str(exc), 2)
    typer.echo(f"new signing key {new.key_id} in {signing}; its public key was added to "
               f"{verifying}" + (f" beside the old key {old}" if old else ""))


@app.command("rechain")
def audit_rechain(
    reason: Annotated[str, typer.Option(
        "--reason", help="Why stored events were rewritten: signed into the re-chain record, "
        "shown by every verify from now on")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
    data_dir: DataDir = None,
    postgres_url: PostgresUrl = None,
) -> None:
    """Rebuild the chain from the events as they are now — only after a sanctioned rewrite of
    stored events (a migration), never to silence a failed verify. The store's checkpoints are
    deleted; the copies in the file and on the topic, signed before, count as superseded."""
    settings = load_settings(data_dir=data_dir, postgres_url=postgres_url)
    require_store(settings)
    if not yes:
        typer.confirm("Rebuild the audit chain from the events as they are now? Whatever was "
                      "changed in them becomes the new truth", abort=True)
    store = open_event_store(settings)
    try:
        try:
            record = rechain(store, settings, reason)
        except (RechainRefused, AuditKeyError) as exc:
            fail(str(exc), 2)
        publish_pending_checkpoints(store, settings)
    finally:
        store.close()
    typer.echo(f"re-chained {record.count:,} events up to position {record.position} (chain "
               f"{record.chain_hash.hex()[:16]}, key {record.key_id}): {record.reason}")


def publish_pending_checkpoints(store: Any, settings: Settings) -> None:
    """Send the store's checkpoints not yet on `crm.audit.checkpoints` (with a broker set)."""
    tables = chain_tables_of(store)
    if tables is not None and settings.kafka_bootstrap:
        sender = Checkpointer(tables, settings)
        try:
            sender.send_pending()
        finally:
            sender.close()
