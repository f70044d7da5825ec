"""Writes reference records in the format tests/reference_data.hpp reads.

Each record: <key> <rank> <dims...> <values...>, values with 17 significant digits.
Scripts that record PyTorch values import this and run under Debian's /usr/bin/python3.
"""
import os

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")


class Writer:
    def __init__(self, filename, header):
        self.path = os.path.join(DATA, filename)
        self.lines = ["# " + line for line in header.strip().splitlines()]

    def add(self, key, tensor, digits=17):
        t = tensor.detach().double().contiguous()
        dims = list(t.shape)
        values = " ".join("%.*g" % (digits, v) for v in t.reshape(-1).tolist())
        self.lines.append(" ".join([key, str(len(dims))] + [str(d) for d in dims]) + " " + values)

    def close(self):
        with open(self.path, "w") as f:
            f.write("\n".join(self.lines) + "\n")
        print("wrote", self.path, len(self.lines), "lines")
