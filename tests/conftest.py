from tests.conftest_servers import *  # noqa: F403
from tests.tiny_qwen import tiny_qwen_dir  # noqa: F401
