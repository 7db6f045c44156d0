"""Metric series, metric sources and the statistical and event detectors."""

from .baseline import TrendSeasonalBaseline
from .case_files import load_events, load_metrics, parse_events, parse_metrics_csv, parse_metrics_rows
from .changepoint import TailShift
from .cusum import Cusum
from .detect import DetectConfig, detect, detect_series
from .events import EventDetector
from .exceptions import DetectorError, MetricSourceError
from .frame import frame_from_samples
from .models import Anomaly, Event, SeriesFrame, SeriesKey
from .robust_z import RobustZScore
from .shift_test import RankShiftTest
from .steps import StepDetector

__all__ = [
    "Anomaly", "Cusum", "DetectConfig", "DetectorError", "Event", "EventDetector", "MetricSourceError",
    "RobustZScore", "SeriesFrame", "SeriesKey", "detect", "detect_series", "frame_from_samples", "load_events",
    "load_metrics", "parse_events", "parse_metrics_csv", "parse_metrics_rows",
    "RankShiftTest", "StepDetector", "TailShift", "TrendSeasonalBaseline",
]
