"""Records own the data: models, migrations, patient files, call records.

Nothing outside this package writes SQL.
"""


def init_app(app) -> None:
    """The records' commands (flask seed, import, ...: records/cli.py)."""
    from records.cli import register

    register(app)
