from tests.conftest_servers import *  # noqa: F403
