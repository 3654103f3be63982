"""``lsgm demo``: placeholder replaced below."""


def register(sub) -> None:
    pass
