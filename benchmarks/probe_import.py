"""Child of the import benchmark: imports the named modules in a fresh interpreter and reports the cost.

    python benchmarks/probe_import.py imagegen imagegen_openai

Prints one JSON line: seconds spent importing, RSS before and after (MB), and which provider SDKs
(the heavy modules a plugin must import lazily) ended up loaded.
"""

import importlib
import json
import sys
import time

HEAVY_MODULES = ("boto3", "botocore", "google.auth", "google.cloud", "azure.identity", "litellm", "openai")


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        return int(next(line.split()[1] for line in status if line.startswith("VmRSS:"))) / 1024


def main() -> None:
    before = rss_mb()
    started = time.perf_counter()
    for name in sys.argv[1:]:
        importlib.import_module(name)
    seconds = time.perf_counter() - started
    heavy = [name for name in HEAVY_MODULES if name in sys.modules and name not in sys.argv[1:]]
    print(json.dumps({"seconds": seconds, "rss_before_mb": before, "rss_mb": rss_mb(), "heavy": heavy}))


if __name__ == "__main__":
    main()
