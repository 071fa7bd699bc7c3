"""Worker process normalising phone numbers: JSON list of raw strings in, list of E.164 out.

Started with ``python -m voxloop.ingest._phone_worker REGION`` so that the many distinct phones
of a large load are parsed on every core; a plain subprocess is used because ``multiprocessing``
would either fork a process that holds DuckDB threads or re-run the caller's ``__main__``.
"""

from __future__ import annotations

import json
import sys

from voxloop.ingest.normalise import normalise_phone


def main() -> None:
    region = sys.argv[1]
    raws = json.load(sys.stdin)
    json.dump([normalise_phone(raw, region) for raw in raws], sys.stdout)


if __name__ == "__main__":
    main()
