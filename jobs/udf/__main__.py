"""`python -m jobs.udf build` compiles the job's Java functions (placeholder until they exist)."""

import sys

if __name__ == "__main__":
    if sys.argv[1:] != ["build"]:
        print("usage: python -m jobs.udf build", file=sys.stderr)
        raise SystemExit(2)
