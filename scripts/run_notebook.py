"""Execute a notebook headless with the project kernel (nbclient).

Usage: run_notebook.py NOTEBOOK [--out EXECUTED.ipynb] [--timeout SECONDS]

Runs every cell in order with the kernel named in the notebook's metadata
(makemore-ts). On the first failing cell -- a runtime error or a TypeScript
compile error, which tslab reports on stderr with an error status -- it prints
one line naming the notebook and the cell, then that cell's error output, and
exits 1. The executed notebook is written to --out either way (when given),
so its outputs can be inspected. Run with Debian's /usr/bin/python3 and
JUPYTER_PATH pointing at the project's .jupyter folder (scripts/paths.js).
"""
import argparse
import os
import sys

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, DeadKernelError, CellTimeoutError


def cell_error_text(cell):
    """The error text a failing cell produced (error outputs, then stderr)."""
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            parts.append(f"{out.get('ename')}: {out.get('evalue')}")
        elif out.get("output_type") == "stream" and out.get("name") == "stderr":
            parts.append(out.get("text", ""))
    return "".join(parts).strip() or "(no error text)"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebook")
    ap.add_argument("--out")
    ap.add_argument("--timeout", type=int, default=1800, help="per-cell timeout in seconds")
    args = ap.parse_args()

    nb = nbformat.read(args.notebook, as_version=4)
    kernel = nb.metadata.get("kernelspec", {}).get("name")
    if not kernel:
        print(f"{args.notebook}: no kernelspec in the notebook metadata", file=sys.stderr)
        return 2
    client = NotebookClient(nb, timeout=args.timeout, kernel_name=kernel, record_timing=True)
    status = 0
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as e:
        status = 1
        failed = None
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code" and cell.get("execution_count") is not None:
                failed = (i, cell)
        if isinstance(e, CellExecutionError) and failed is not None:
            i, cell = failed
            first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
            print(f"{args.notebook}: cell {i} failed ({first[:70]})", file=sys.stderr)
            print(cell_error_text(cell), file=sys.stderr)
        else:
            print(f"{args.notebook}: {type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}", file=sys.stderr)
    finally:
        if args.out:
            tmp = args.out + ".tmp"
            nbformat.write(nb, tmp)
            os.replace(tmp, args.out)
    return status


if __name__ == "__main__":
    sys.exit(main())
