"""creditbank: a lifelong learning credit bank (学分银行)."""

__version__ = "0.1.0"
