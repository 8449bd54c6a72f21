"""GPU burst: rented Vast.ai nodes that take heavy steps off the VPS, under a budget."""
