"""The markers of the package tests, registered here so that --strict-markers accepts them
wherever setup.cfg stands; setup.cfg may list them too."""


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "package: builds the .deb and tests it installed in a booted systemd "
                   "container (root, apt; a few minutes)")
