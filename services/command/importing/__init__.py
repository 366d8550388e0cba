"""Bulk import of history from other systems (`crm import`); formats in docs/import.md."""

from services.command.importing.importer import ImportSummary, import_file
from services.command.importing.records import KINDS, customer_id_for
from services.command.importing.sources import ImportFormatError

__all__ = ["KINDS", "ImportFormatError", "ImportSummary", "customer_id_for", "import_file"]
