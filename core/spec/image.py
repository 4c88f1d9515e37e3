"""The digits' image: 28×28 pixels, the one home of that fact (a leaf: it imports nothing)."""

IMAGE_SIDE = 28  # MNIST and Fashion-MNIST images are 28×28 pixels
PIXELS = IMAGE_SIDE * IMAGE_SIDE  # 784: what a dense network's first layer sees
