"""workers: everything that runs jobs (Celery app and tasks, the onnxruntime engine, training).

The gateway imports only :mod:`workers.seam`; the rest may import ``radar`` and ``models``.
"""
