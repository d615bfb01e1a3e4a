"""Records own the data: models, migrations, patient files, call records.

Nothing outside this package writes SQL.
"""
