"""imagegen-proxy: an OpenAI-compatible image generation gateway over every installed imagegen provider.

imagegen serve --config config.yaml      # http://0.0.0.0:4000/v1/images/generations
"""

__version__ = "0.1.0"
