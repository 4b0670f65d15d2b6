"""Models of ``m2m_benchmark.py``: each field gets its own five target models.

Separate targets keep one field's deletion handling (both fields relate every model they
point at) out of the other's figures.
"""
