pytest_plugins = ["pycontainerd.testing.pytest_plugin"]
