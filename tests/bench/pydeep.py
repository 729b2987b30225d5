# A CPU-bound Python workload for tests/bench/unwind.sh: a call stack DEPTH
# (argv[1], default 30) deep, recursing to a leaf that does integer
# arithmetic, over and over until it is killed.
import sys


def level(n, x):
    if n:
        return level(n - 1, x + 1) + 1
    s = 0
    for i in range(1, 400):
        s += (x * i) % 7 + x // i
    return s


def main():
    depth = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    total = 0
    while True:
        total += level(depth, 3)


main()
