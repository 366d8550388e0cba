"""The task-reminder policy on the embedded composition: tests/contract/task_reminders.py."""

from __future__ import annotations

import pytest

from services.common.settings import Settings
from tests.contract.task_reminders import TaskRemindersContract


class TestTaskRemindersEmbedded(TaskRemindersContract):
    @pytest.fixture(scope="class")
    @classmethod
    def settings(cls, tmp_path_factory: pytest.TempPathFactory) -> Settings:
        return Settings(data_dir=tmp_path_factory.mktemp("crm-data"))

    @pytest.fixture
    def restart_settings(self, tmp_path_factory: pytest.TempPathFactory) -> Settings:
        return Settings(data_dir=tmp_path_factory.mktemp("restarted"))
