"""The values the settings' select sliders offer, shared by the Train page's settings and the
race controls (the limits they stay within are core.spec.config.LIMITS)."""

LEARNING_RATES = [
    1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 3e-4, 5e-4, 1e-3, 2e-3, 3e-3, 5e-3,
    1e-2, 2e-2, 3e-2, 5e-2, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0,
]  # fmt: skip
WEIGHT_DECAYS = [0.0, 1e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 0.1]
BATCH_SIZES = [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
