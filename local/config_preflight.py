"""The configuration checked before anything starts: every problem printed as one list, with no
traceback, and a non-zero exit. The stack runs it before the sandbox (which reads the settings
too), without Secret Manager; the host runs the full check, references resolved, before it serves.

python -m local.config_preflight [--no-secret-references]
"""

import argparse
import sys

from common.config_check import configuration_problems

EXIT_CODE = 2


def exit_on_problems(problems: list[str]) -> None:
    if problems:
        print("Configuration problems (fix these settings, then start again):", file=sys.stderr)
        print("\n".join(f"  - {problem}" for problem in problems), file=sys.stderr)
        sys.exit(EXIT_CODE)


def main() -> None:
    parser = argparse.ArgumentParser(description="Check every setting and secret of this environment")
    parser.add_argument("--no-secret-references", action="store_true", help="do not resolve Secret Manager references")
    exit_on_problems(configuration_problems(resolve_references=not parser.parse_args().no_secret_references))


if __name__ == "__main__":
    main()
