"""argv for a clip's own sound (``clip_audio: mix``): fitted to its scene, then mixed under
the voices. Pure builders beside ``ffmpeg``'s, kept apart to keep that module readable."""

from __future__ import annotations

from collections.abc import Sequence

from .ffmpeg import PathLike, _visual_inputs, assemble_filtergraph, path_arg
from .timeline import VideoSettings, Visual

__all__ = ["CLIP_SOUND_DB", "clip_audio_argv", "clip_mix_argv"]


#: A clip's own sound sits this far under the voices (``clip_audio: mix``).
CLIP_SOUND_DB = -12


def clip_mix_argv(audio_path: PathLike, pieces: Sequence[tuple[PathLike | None, int]], s: VideoSettings, out_path: PathLike) -> list[str]:
    """argv mixing the clips' own sound under a finished audio track (aac in mp4).

    ``pieces``: one ``(clip sound WAV or None, samples)`` per segment, in order (None: silence);
    they are joined like the voices (:func:`assemble_filtergraph`), lowered by
    :data:`CLIP_SOUND_DB` and mixed with input 0; the track keeps its length.
    """
    bed = assemble_filtergraph(pieces, s, first_input=1).rsplit("[aout]", 1)[0]
    graph = f"{bed}[bed];[bed]volume={CLIP_SOUND_DB}dB[quiet];[0:a][quiet]amix=inputs=2:duration=first:normalize=0[aout]"
    argv = ["-i", path_arg(audio_path)]
    for path, _ in pieces:
        if path is not None:
            argv += ["-i", path_arg(path)]
    return [*argv, "-filter_complex", graph, "-map", "[aout]", "-c:a", "aac", "-b:a", s.audio_bitrate,
            "-ar", str(s.audio_rate), "-f", "mp4", path_arg(out_path)]


def clip_audio_argv(v: Visual, frames: int, s: VideoSettings, out_path: PathLike) -> list[str]:
    """argv writing a clip's own sound fitted to a scene of ``frames`` frames the way its
    picture is (trimmed, slowed with ``atempo``, or looped): 16-bit stereo WAV at
    ``s.audio_rate`` of exactly ``frames * samples_per_frame`` samples, for mixing under voices."""
    n = frames * s.samples_per_frame
    mode, k = v.clip_plan(frames / s.fps)
    tempo = f"atempo={1 / k:.6f}," if mode == "slow" else ""
    graph = (
        f"[0:a]asetpts=PTS-STARTPTS,{tempo}aresample={s.audio_rate},"
        f"aformat=sample_fmts=s16:channel_layouts=stereo,apad=whole_len={n},atrim=end_sample={n}[aout]"
    )
    return [
        *_visual_inputs(v, frames, s), "-filter_complex", graph, "-map", "[aout]",
        "-c:a", "pcm_s16le", "-f", "wav", path_arg(out_path),
    ]
