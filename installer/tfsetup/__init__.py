"""tfsetup: a verified TensorFlow environment with one command."""
__version__ = "0.1.0"
