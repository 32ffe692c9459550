"""The configuration checked before anything starts: every problem printed as one list, with no
traceback, and a non-zero exit. The stack runs it before the sandbox (which reads the settings
too), without Secret Manager; the host runs the full check, references resolved, before it serves.

python -m local.config_preflight [--no-secret-references] [--role http|consumer]
"""

import argparse
import sys

from common.serving.config_check import ROLE_SETTINGS, configuration_problems

EXIT_CODE = 2


def exit_on_problems(problems: list[str]) -> None:
    if problems:
        print("Configuration problems (fix these settings, then start again):", file=sys.stderr)
        print("\n".join(f"  - {problem}" for problem in problems), file=sys.stderr)
        sys.exit(EXIT_CODE)


def main() -> None:
    parser = argparse.ArgumentParser(description="Check every setting and secret of this environment")
    parser.add_argument("--no-secret-references", action="store_true", help="do not resolve Secret Manager references")
    parser.add_argument("--role", choices=sorted(ROLE_SETTINGS), help="also check what a deployed function of this kind needs")
    args = parser.parse_args()
    exit_on_problems(configuration_problems(resolve_references=not args.no_secret_references, role=args.role))


if __name__ == "__main__":
    main()
