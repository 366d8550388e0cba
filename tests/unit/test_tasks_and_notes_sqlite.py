"""Tasks and notes on the embedded composition (SQLite events and read models):
tests/contract/tasks_and_notes.py."""

from __future__ import annotations

import pytest

from services.common.settings import Settings
from tests.contract.tasks_and_notes import TasksAndNotesContract


class TestTasksAndNotesEmbedded(TasksAndNotesContract):
    @pytest.fixture(scope="class")
    @classmethod
    def settings(cls, tmp_path_factory: pytest.TempPathFactory) -> Settings:
        return Settings(data_dir=tmp_path_factory.mktemp("crm-data"), read_wait_timeout_s=10.0)
