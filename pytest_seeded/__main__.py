"""``python -m pytest_seeded COMMAND``: the plugin's commands outside a pytest run."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["merge-reports"]:
        from pytest_seeded.report.merge import main as merge_reports

        return merge_reports(args[1:])
    print(
        "usage: python -m pytest_seeded merge-reports SHARD.json ... "
        "[--json OUT.json] [--html OUT.html]",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
