"""The `minicnn` command."""
import argparse
import sys

import minicnn


def build_parser():
    parser = argparse.ArgumentParser(
        prog="minicnn",
        description="A readable deep-learning engine that learns to segment microscopy images.")
    parser.add_argument("--version", action="version", version=f"minicnn {minicnn.__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
