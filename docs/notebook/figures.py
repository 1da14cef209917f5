"""Copy the figures that docs/notebook.md shows out of the executed notebook,
byte for byte: ``python docs/notebook/figures.py`` after ``make notebook``.

Each figure is the n-th image output of the code cell whose source contains
a marker; tests/test_notebook.py checks that every picture in this folder is
one of the notebook's outputs.
"""
import base64
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
NOTEBOOK = os.path.join(HERE, "..", "..", "notebooks", "neural_style.ipynb")

#: file name -> (marker in the cell's source, index of the image output)
FIGURES = {
    "texture.jpg": ("texture_image, texture_history = optimise(", 0),
    "transfer.jpg": ("transfer_image, transfer_history = optimise(", 0),
    "tradeoff.jpg": ("for factor in (0.1, 1, 10, 100):", 0),
    "compare_textures.jpg": ('print("%ss, seed %d" % (kind, seed))', 0),
    "compare_transfers.jpg": ('print("%ss, seed %d" % (kind, seed))', 1),
    "blend.jpg": ("mixed = api.synthesize(", 0),
    "discriminators.jpg": ("disc_results = {}", 0),
    "d_grid.jpg": ("grid = {(5, 1):", 0),
}


def image_outputs(cell):
    """The decoded images a code cell displayed, in order."""
    return [base64.b64decode(data) for output in cell.get("outputs", [])
            for kind, data in output.get("data", {}).items()
            if kind in ("image/jpeg", "image/png")]


def main():
    with open(NOTEBOOK, encoding="utf-8") as f:
        cells = [c for c in json.load(f)["cells"] if c["cell_type"] == "code"]
    for name, (marker, index) in FIGURES.items():
        found = [c for c in cells if marker in "".join(c["source"])]
        if len(found) != 1:
            sys.exit("%s: %d cells contain %r" % (name, len(found), marker))
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(image_outputs(found[0])[index])
        print("wrote", name)


if __name__ == "__main__":
    main()
