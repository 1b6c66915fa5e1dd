"""The media layer: ffmpeg argv, subtitles, probing and composing scenes into a video.

Re-exports only; see each module's docstring for what it owns. Importing this package starts no
process and looks for no binary.
"""

from .compose import assemble, render_segment
from .ffmpeg import ffmpeg_exe, run_ffmpeg
from ..fonts import FONT_FAMILY, fonts_dir
from .probe import MediaInfo, StreamInfo, count_frames, probe, wav_duration
from .subtitles import ass_colour, ass_time, karaoke_ass
from .timeline import CharacterLook, LineClip, SceneTimeline, VideoSettings, scene_timeline

__all__ = [
    "FONT_FAMILY",
    "CharacterLook",
    "LineClip",
    "MediaInfo",
    "SceneTimeline",
    "StreamInfo",
    "VideoSettings",
    "ass_colour",
    "ass_time",
    "assemble",
    "count_frames",
    "ffmpeg_exe",
    "fonts_dir",
    "karaoke_ass",
    "probe",
    "render_segment",
    "run_ffmpeg",
    "scene_timeline",
    "wav_duration",
]
