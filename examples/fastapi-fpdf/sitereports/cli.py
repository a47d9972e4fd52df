"""Admin commands, run before the web process (a deploy's pre-start step):

    python -m sitereports.cli init-db
    python -m sitereports.cli create-user EMAIL PASSWORD

Both read DATA_DIR like the app.
"""

import argparse
import os
import sys

from . import db
from .config import load_settings
from .security import hash_password


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="sitereports.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("init-db", help="create the SQLite schema")
    user = sub.add_parser("create-user", help="create a login (or reset its password)")
    user.add_argument("email")
    user.add_argument("password")
    args = parser.parse_args(argv)

    settings = load_settings(need_secret=False)
    os.makedirs(settings.data_dir, exist_ok=True)
    db.init(settings.database)
    if args.command == "create-user":
        with db.connect(settings.database) as conn:
            conn.execute(
                "INSERT INTO users (email, password_hash) VALUES (?, ?) "
                "ON CONFLICT(email) DO UPDATE SET password_hash = excluded.password_hash",
                (args.email.lower(), hash_password(args.password)),
            )
        print(f"user {args.email} ready in {settings.database}")
    else:
        print(f"schema ready in {settings.database}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
