"""The data-quality report: what is missing, what is wrong, what resolution found."""

from voxloop.quality.report import quality_report

__all__ = ["quality_report"]
