"""The archiver's restore as its setup guide shows it, for the restore
benchmark: a supabase-py client, one insert of the conversation row, then one
insert of all its messages. Nothing is checked afterwards and nothing is
undone when the second insert fails.

Usage: python supabase_snippet.py SUPABASE_URL SERVICE_KEY ARCHIVE_JSON
Each line `restore` on stdin runs it once and prints `{"ms": elapsed}`;
the archive is read before, so only the client and the inserts are timed.
"""

import json
import sys
import time

from supabase import create_client


def main() -> None:
    url, key, archive_path = sys.argv[1:4]
    with open(archive_path, encoding="utf-8") as f:
        archive_data = json.load(f)
    for line in sys.stdin:
        if line.strip() != "restore":
            break
        started = time.perf_counter()
        supabase = create_client(url, key)
        supabase.table("conversations").insert(archive_data["conversation"]).execute()
        supabase.table("messages").insert(archive_data["messages"]).execute()
        elapsed = time.perf_counter() - started
        print(json.dumps({"ms": elapsed * 1000.0}), flush=True)


if __name__ == "__main__":
    main()
