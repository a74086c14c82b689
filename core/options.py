"""Options of one interpolation job."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from core.errors import OptionError

DEFAULT_SCENE_CUT = 0.2


@dataclass
class JobOptions:
    """Everything that shapes one job besides its input and output paths.

    ``target_fps``, when set, sets the output timing; otherwise ``factor`` does.
    ``scene_cut`` is a threshold in [0, 1] or None to disable scene-cut detection.
    ``batch`` None lets the core choose; ``scale`` None lets the model choose.
    """

    factor: int | None = 2
    target_fps: Fraction | None = None
    model: str = "auto"  # auto: RIFE on CUDA (cached or fetched), flow on the CPU; see core/models/auto.py
    weights: str | None = None
    device: str = "auto"
    precision: str = "auto"  # auto | fp16 | fp32
    codec: str = "auto"  # auto | libx264 | libx265 | h264_nvenc | hevc_nvenc | ffv1
    crf: int | None = None
    preset: str | None = None
    pix_fmt: str | None = None
    scene_cut: float | None = DEFAULT_SCENE_CUT
    batch: int | None = None
    scale: float | None = None
    stall_timeout: float | None = None
    encode_workers: int | None = None  # None: parallel segments on machines with 8+ cores
    colour: str = "auto"  # auto | device | cpu: where YUV<->RGB conversion runs
    cuda_graphs: bool = True  # replay RIFE 4.x forwards as CUDA graphs on CUDA
    offline: bool = False  # --model auto never downloads weights; flow when none are cached
    strict: bool = False  # any damage in the input (lost frames, undecodable packets) fails the job
    segment_pairs: int | None = None  # input pairs per journal segment (None: about 4 s of input)

    def validate(self) -> None:
        """Raise OptionError with one sentence if the options contradict or are out of range."""
        if self.target_fps is not None:
            self.factor = None  # target_fps takes precedence over the default factor
            if self.target_fps <= 0:
                raise OptionError(f"--target-fps must be positive, got {float(self.target_fps):g}.")
        elif self.factor is None or not 2 <= self.factor <= 16:
            raise OptionError(f"--factor must be an integer from 2 to 16, got {self.factor}.")
        if self.scene_cut is not None and not 0.0 < self.scene_cut <= 1.0:
            raise OptionError(f"--scene-cut must be 'off' or a threshold in (0, 1], got {self.scene_cut}.")
        if self.batch is not None and self.batch < 1:
            raise OptionError(f"--batch must be at least 1, got {self.batch}.")
        if self.crf is not None and not 0 <= self.crf <= 51:
            raise OptionError(f"--crf must be from 0 to 51, got {self.crf}.")
        if self.precision not in ("auto", "fp16", "fp32"):
            raise OptionError(f"--precision must be auto, fp16 or fp32, got {self.precision!r}.")
        if self.scale is not None and self.scale not in (0.25, 0.5, 1.0, 2.0):
            raise OptionError(f"--scale must be 0.25, 0.5, 1 or 2, got {self.scale:g}.")
        if self.colour not in ("auto", "device", "cpu"):
            raise OptionError(f"--colour must be auto, device or cpu, got {self.colour!r}.")
        if self.encode_workers is not None and not 1 <= self.encode_workers <= 32:
            raise OptionError(f"--encode-workers must be from 1 to 32, got {self.encode_workers}.")
        if self.segment_pairs is not None and self.segment_pairs < 1:
            raise OptionError(f"segment_pairs must be at least 1, got {self.segment_pairs}.")
        if self.stall_timeout is not None and self.stall_timeout <= 0:
            raise OptionError("--stall-timeout must be a positive number of seconds.")
