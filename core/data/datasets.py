"""The datasets Digit Lab trains on: MNIST and Fashion-MNIST, both 28×28 grey images in 10 classes.

One table says what differs between them: the folder torchvision keeps them in, the names of
the classes, the SHA-256 of each uncompressed file, and what one example is called on a page.
"""

from __future__ import annotations

from dataclasses import dataclass

MNIST_SHA256 = {  # SHA-256 of the four uncompressed torchvision IDX files
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

RAW_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
# Measured on the files of Debian's dataset-fashion-mnist 0.0~git20200523.55506a9-1 after
# gunzip. Upstream (zalandoresearch/fashion-mnist's README) publishes MD5s of its .gz files
# only, and Debian recompressed them, so the content is pinned here instead of the archives.
FASHION_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}


@dataclass(frozen=True)
class Dataset:
    """What one dataset is called, where it lives and what its classes are."""

    name: str  # as in a run's config and a link: "mnist", "fashion-mnist"
    title: str  # as a page writes it
    folder: str  # under the data folder, as torchvision names it; files in <folder>/raw
    class_names: tuple[str, ...]
    short_names: tuple[str, ...]  # under a 28×28 tile
    raw_sha256: dict[str, str]
    item: str  # one example, as a sentence says it: "digit", "item"
    drawable: bool  # the Draw page's canvas is for this kind of image
    about: str

    def label(self, index: int) -> str:
        """Return the name of class index (0-9)."""
        return self.class_names[index]

    def labels(self, classes) -> list[str]:
        """Return the names of several classes, in their order."""
        return [self.class_names[int(c)] for c in classes]


MNIST = Dataset(
    name="mnist",
    title="MNIST",
    folder="MNIST",
    class_names=tuple(str(d) for d in range(10)),
    short_names=tuple(str(d) for d in range(10)),
    raw_sha256=MNIST_SHA256,
    item="digit",
    drawable=True,
    about="70,000 handwritten digits, 28×28 grey pixels each, written by US census staff "
    "and students.",
)
FASHION_MNIST = Dataset(
    name="fashion-mnist",
    title="Fashion-MNIST",
    folder="FashionMNIST",
    class_names=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    short_names=(
        "T-shirt",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Boot",
    ),  # fmt: skip
    raw_sha256=FASHION_SHA256,
    item="item",
    drawable=False,
    about="70,000 photos of clothes and shoes from Zalando's catalogue, 28×28 grey pixels each: "
    "MNIST's format, and a harder task.",
)
DATASETS: dict[str, Dataset] = {d.name: d for d in (MNIST, FASHION_MNIST)}
DEFAULT_DATASET = MNIST.name


def get_dataset(name: str) -> Dataset:
    """Return the named dataset, or raise ValueError naming the field and the choices."""
    if name not in DATASETS:
        raise ValueError(f"dataset: {name!r} is not one of {', '.join(DATASETS)}")
    return DATASETS[name]
