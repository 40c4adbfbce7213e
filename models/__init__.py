"""models: networks (torch), and the torch-free metrics, baselines and evaluation."""
