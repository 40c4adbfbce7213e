"""service: the HTTP gateway (FastAPI). It imports ``radar`` for header checks and views and, of
the workers, only :mod:`workers.seam`; never torch or onnxruntime.
"""
