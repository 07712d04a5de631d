import pytest

from vtrial.config import load_config


@pytest.fixture
def cfg():
    """A fresh copy of the packaged default config (the 2009 trial)."""
    return load_config()
