"""What the supervisor pages' tests share: a supervisor, and a client logged in as them."""

import pytest

from tests.web import log_in, make_staff


@pytest.fixture
def supervisor(app):
    return make_staff(app, "supervisor", display_name="主管甲")


@pytest.fixture
def client(app, supervisor):
    client = app.test_client()
    log_in(client, supervisor.username, supervisor.password)
    return client
