"""workers.names: task names, the only part of the workers the gateway needs to know."""

INFERENCE_TASK = "workers.tasks.inference.run_nowcast"
TRAIN_TASK = "workers.tasks.training.train"
