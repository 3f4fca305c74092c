"""``python -m qa.local check``: is the installed llama.cpp runtime the portable build?"""

import sys

from .runtime import check

if sys.argv[1:] != ["check"]:
    sys.exit("usage: python -m qa.local check")
sys.exit(check())
